/**
 * The one script of every page: reads the route from the URL, fills in the account menu, and
 * renders the page. The server sends only a shell (app/http/web.ts).
 */
import "./styles.css";
import { auth, serverConfig } from "./api";
import { h, main, notice, replace } from "./dom";
import { renderChat } from "./pages/chat";
import { renderHome, renderLogin } from "./pages/home";
import { renderRepo } from "./pages/repo";
import { renderRun, renderRuns } from "./pages/runs";
import { parseRoute, urls } from "./routes";

async function renderAccount(): Promise<void> {
  const nav = document.getElementById("account");
  if (!nav) return;
  const config = await serverConfig().catch(() => undefined);
  if (config?.user) {
    const signOut = h("button", { type: "button", class: "link-button" }, "Sign out");
    signOut.addEventListener("click", () => {
      auth.clear();
      location.assign(urls.home());
    });
    replace(
      nav,
      h("span", { class: "whoami" }, "Signed in as ", h("strong", null, config.user.username)),
      signOut,
    );
  } else if (location.pathname !== urls.login()) {
    replace(nav, h("a", { href: urls.login(location.pathname) }, "Sign in"));
  }
}

async function render(): Promise<void> {
  const route = parseRoute(location.pathname);
  switch (route?.page) {
    case "home":
      return renderHome();
    case "login":
      return renderLogin();
    case "repo":
      return renderRepo(route);
    case "session":
      return renderChat(route.id);
    case "runs":
      return renderRuns(route.owner, route.repo);
    case "run":
      return renderRun(route.id);
    default:
      replace(main(), notice("warning", "There is no page here."));
  }
}

void renderAccount();
render().catch((err) => {
  replace(main(), notice("error", `This page failed to load: ${(err as Error).message}`));
});
