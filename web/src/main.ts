/**
 * The one script of every page: reads the route from the URL, learns who is signed in (token or
 * cookie session), fills in the account menu, and renders the page. The server sends only a
 * shell (app/http/web.ts).
 */
import "./styles.css";
import { serverConfig, signOut } from "./api";
import { h, main, notice, replace } from "./dom";
import { errorText } from "./forms";
import { renderAdminInvites, renderAdminUsers } from "./pages/admin";
import { renderAudit } from "./pages/admin-audit";
import { renderChat } from "./pages/chat";
import { renderCompare } from "./pages/compare";
import { renderHome } from "./pages/home";
import { renderIssue, renderIssues, renderNewIssue } from "./pages/issues";
import { renderLogin, renderPassword, renderSignup } from "./pages/login";
import { renderNewOrg, renderOwner } from "./pages/orgs";
import { renderPull, renderPulls } from "./pages/pulls";
import { renderRepo } from "./pages/repo";
import { renderRepoSettings } from "./pages/repo-settings";
import { renderRun, renderRuns } from "./pages/runs";
import { renderTokens } from "./pages/settings";
import { parseRoute, urls } from "./routes";

async function renderAccount(): Promise<void> {
  const nav = document.getElementById("account");
  if (!nav) return;
  const config = await serverConfig().catch(() => undefined);
  const user = config?.user;
  if (user) {
    const status = h("span", { class: "inline-error", role: "alert" });
    const out = h("button", { type: "button", class: "link-button" }, "Sign out");
    out.addEventListener("click", async () => {
      out.disabled = true;
      try {
        await signOut();
        location.assign(urls.home());
      } catch (err) {
        status.textContent = `Sign-out failed: ${errorText(err)}`;
        out.disabled = false;
      }
    });
    replace(
      nav,
      user.admin ? h("a", { href: urls.adminUsers() }, "Admin") : null,
      h("a", { href: urls.tokens() }, "Tokens"),
      h("a", { href: urls.newOrg() }, "New organization"),
      h(
        "span",
        { class: "whoami" },
        "Signed in as ",
        h("a", { href: urls.owner(user.username) }, h("strong", null, user.username)),
      ),
      out,
      status,
    );
  } else if (location.pathname !== urls.login()) {
    replace(nav, h("a", { href: urls.login(location.pathname) }, "Sign in"));
  }
}

async function render(): Promise<void> {
  // Pages decide what to offer by who is signed in: know it first (one request, also the menu's).
  await serverConfig().catch(() => undefined);
  const route = parseRoute(location.pathname);
  switch (route?.page) {
    case "home":
      return renderHome();
    case "login":
      return renderLogin();
    case "signup":
      return renderSignup();
    case "password":
      return renderPassword();
    case "tokens":
      return renderTokens();
    case "new-org":
      return renderNewOrg();
    case "owner":
      return renderOwner(route.owner);
    case "admin-users":
      return renderAdminUsers();
    case "admin-invites":
      return renderAdminInvites();
    case "admin-audit":
      return renderAudit();
    case "repo":
      return renderRepo(route);
    case "repo-settings":
      return renderRepoSettings(route.owner, route.repo);
    case "session":
      return renderChat(route.id);
    case "runs":
      return renderRuns(route.owner, route.repo);
    case "run":
      return renderRun(route.id);
    case "issues":
      return renderIssues(route.owner, route.repo);
    case "issue-new":
      return renderNewIssue(route.owner, route.repo);
    case "issue":
      return renderIssue(route.owner, route.repo, route.number);
    case "pulls":
      return renderPulls(route.owner, route.repo);
    case "pull":
      return renderPull(route.owner, route.repo, route.number, route.tab);
    case "compare":
      return renderCompare(route.owner, route.repo, route.base, route.head);
    default:
      replace(main(), notice("warning", "There is no page here."));
  }
}

void renderAccount();
render().catch((err) => {
  replace(main(), notice("error", `This page failed to load: ${(err as Error).message}`));
});
