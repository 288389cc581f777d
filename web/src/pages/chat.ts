/**
 * `/sessions/<id>`: an agent chat. History comes from `GET /api/sessions/:id/messages`; a run
 * streams over SSE through the shared client library (typed events, resume with Last-Event-ID,
 * abort), with `eventsource` as the transport because a browser's own EventSource cannot send
 * the Bearer token. Text arrives token by token; each tool call is a collapsible `<details>`
 * with its input and output; Stop aborts the run and the page says it stopped; a run's error is
 * shown where the answer would have been.
 */
import { EventSource } from "eventsource";
import { AgentClient, type AgentStream } from "../../../app/client/agent-client";
import { ApiError } from "../../../app/client/api-error";
import type { EventSourceConstructor, StreamState } from "../../../app/client/event-stream";
import type { CreatedRun, MessageView, SessionView } from "../../../app/wire/api";
import type { ChatPart, StreamEvent } from "../../../app/wire/protocol";
import { auth, browserFetch, serverConfig, signedIn } from "../api";
import { h, main, notice, replace, setTitle } from "../dom";
import { urls } from "../routes";

const STATE_TEXT: Partial<Record<StreamState, string>> = {
  connecting: "Connecting…",
  open: "The agent is working…",
  reconnecting: "Connection lost; reconnecting…",
  cancelling: "Stopping…",
};

/** What a user can do about an error code the runner reports. */
const ERROR_HINTS: Record<string, string> = {
  no_api_key: "Set ANTHROPIC_API_KEY in the environment of the Plue server and restart it.",
  model_auth: "Check ANTHROPIC_API_KEY: the model API refused it.",
  rate_limited: "Wait a moment and send the message again.",
};

/** One assistant turn on the page: text as it streams, tool calls, and how the run ended. */
class AssistantMessage {
  readonly el: HTMLLIElement;
  private readonly body = h("div", { class: "msg-body" });
  private text?: Text;
  private readonly tools = new Map<string, HTMLDetailsElement>();

  constructor(workloadId: string | null) {
    this.el = h(
      "li",
      { class: "msg msg-assistant", "data-workload": workloadId ?? undefined },
      h("div", { class: "who" }, "Agent"),
      this.body,
    );
  }

  /** The next text starts a paragraph of its own. */
  newTurn(): void {
    this.text = undefined;
  }

  addText(text: string): void {
    if (!this.text) {
      this.text = document.createTextNode("");
      this.body.append(h("div", { class: "msg-text" }, this.text));
    }
    this.text.appendData(text);
  }

  toolStart(id: string, name: string, input: unknown): void {
    this.text = undefined;
    const details = h(
      "details",
      { class: "tool tool-running", "data-tool-id": id },
      h(
        "summary",
        null,
        h("span", { class: "tool-name" }, name),
        " ",
        h("span", { class: "tool-status" }, "running…"),
      ),
      h(
        "div",
        { class: "tool-io" },
        h("h4", null, "Input"),
        h("pre", null, JSON.stringify(input ?? {}, null, 2)),
      ),
    );
    this.tools.set(id, details);
    this.body.append(details);
  }

  toolEnd(id: string, name: string, output: string, isError: boolean, truncated = false): void {
    let details = this.tools.get(id);
    if (!details) {
      this.toolStart(id, name, undefined);
      details = this.tools.get(id)!;
    }
    details.classList.remove("tool-running");
    details.classList.add(isError ? "tool-error" : "tool-ok");
    details.querySelector(".tool-status")!.textContent = isError ? "failed" : "done";
    const io = details.querySelector(".tool-io")!;
    io.append(h("h4", null, "Output"), h("pre", null, output));
    if (truncated) io.append(h("p", { class: "muted" }, "(output truncated)"));
  }

  log(e: StreamEvent<"log">): void {
    this.text = undefined;
    this.body.append(h("div", { class: `log log-${e.data.stream}` }, e.data.text));
  }

  /** How the run ended, in place: stopped, an error, or a budget that ran out. */
  end(e: StreamEvent<"done"> | StreamEvent<"error">): void {
    if (e.type === "error") {
      const { message, code } = (e as StreamEvent<"error">).data;
      this.body.append(
        notice(
          "error",
          h("strong", null, "The run failed: "),
          message,
          code && ERROR_HINTS[code] ? h("p", null, ERROR_HINTS[code]) : null,
        ),
      );
      return;
    }
    const { reason, usage } = (e as StreamEvent<"done">).data;
    if (reason === "aborted") this.stopped();
    else if (reason === "max_turns")
      this.body.append(notice("warning", "The agent stopped: it used its maximum number of turns."));
    else if (reason === "max_tokens")
      this.body.append(notice("warning", "The agent stopped: it used its output token budget."));
    else if (reason === "timeout")
      this.body.append(notice("warning", "The agent stopped: it ran out of time."));
    if (usage && usage.input_tokens + usage.output_tokens > 0) {
      this.body.append(
        h(
          "p",
          { class: "usage muted" },
          `${usage.input_tokens} input · ${usage.output_tokens} output tokens`,
        ),
      );
    }
  }

  stopped(): void {
    if (this.el.querySelector(".run-stopped")) return;
    this.body.append(h("p", { class: "run-stopped", role: "status" }, "Stopped. The run was aborted."));
  }
}

class ChatPage {
  private readonly client: AgentClient;
  private readonly transcript = h("ol", { class: "transcript", "aria-label": "Conversation" });
  private readonly status = h("p", { class: "run-status muted", role: "status", "aria-live": "polite" });
  private readonly input = h("textarea", {
    id: "message",
    name: "message",
    rows: 3,
    required: true,
    placeholder: "Ask the agent…",
    "aria-describedby": "message-hint",
  });
  private readonly send = h("button", { type: "submit" }, "Send");
  private readonly stop = h("button", { type: "button", class: "button-danger", disabled: true }, "Stop");
  private readonly formError = h("div", { class: "form-error" });
  private stream?: AgentStream;
  private current?: AssistantMessage;

  constructor(private readonly session: SessionView) {
    this.client = new AgentClient({
      baseUrl: location.origin,
      token: auth.token(),
      fetch: browserFetch,
      EventSource: EventSource as unknown as EventSourceConstructor,
    });
  }

  async mount(agentsWarning: string | undefined): Promise<void> {
    const s = this.session;
    const title = s.title ?? (s.repo ? `Chat about ${s.repo}` : "Agent chat");
    setTitle(title);
    const form = h(
      "form",
      { class: "composer" },
      h("label", { for: "message", class: "visually-hidden" }, "Message"),
      this.input,
      h(
        "div",
        { class: "composer-actions" },
        h("span", { id: "message-hint", class: "hint muted" }, "Enter sends · Shift+Enter for a new line"),
        this.stop,
        this.send,
      ),
      this.formError,
    );
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.sendMessage();
    });
    this.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    this.stop.addEventListener("click", () => void this.abort());
    replace(
      main(),
      h(
        "div",
        { class: "chat" },
        h(
          "header",
          { class: "chat-header" },
          h("h1", null, title),
          s.repo ? h("a", { href: urls.repo(...(s.repo.split("/") as [string, string])) }, s.repo) : null,
        ),
        agentsWarning ? notice("warning", agentsWarning) : null,
        this.transcript,
        this.status,
        form,
      ),
    );
    await this.loadHistory();
    // A run in progress (or one that ended badly) is replayed from its first event: the page
    // then shows it as it happened, its error or stop included.
    if (
      s.run &&
      (s.status === "running" || s.status === "aborting" || s.status === "failed" || s.status === "aborted")
    ) {
      this.follow(this.client.stream(s.id));
    }
    this.input.focus();
  }

  private async loadHistory(): Promise<void> {
    let messages: MessageView[];
    try {
      messages = await this.client.messages(this.session.id);
    } catch (err) {
      this.transcript.after(notice("error", `Could not load the conversation: ${(err as Error).message}`));
      return;
    }
    const tools = new Map<string, AssistantMessage>();
    // One run is one answer on the page, as it was live: its turns (assistant text and tool
    // calls, then the tool results the history files under the user role) are joined again.
    let answer: { workload: string | null; message: AssistantMessage } | undefined;
    for (const m of messages) {
      if (m.role === "user") {
        const text = m.parts
          .filter((p): p is Extract<ChatPart, { type: "text" }> => p.type === "text")
          .map((p) => p.text);
        for (const p of m.parts) {
          if (p.type === "tool_result") {
            tools.get(p.tool_use_id)?.toolEnd(p.tool_use_id, "", p.content, p.is_error ?? false);
          }
        }
        if (text.length) {
          this.transcript.append(userMessage(text.join("\n"), m.workload_id));
          answer = undefined;
        }
        continue;
      }
      if (!answer || answer.workload !== m.workload_id) {
        answer = { workload: m.workload_id, message: new AssistantMessage(m.workload_id) };
        this.transcript.append(answer.message.el);
      }
      const a = answer.message;
      a.newTurn();
      for (const p of m.parts) {
        if (p.type === "text") a.addText(p.text);
        else if (p.type === "tool_use") {
          a.toolStart(p.id, p.name, p.input);
          tools.set(p.id, a);
        }
      }
    }
  }

  private async sendMessage(): Promise<void> {
    const text = this.input.value.trim();
    if (!text || this.stream) return;
    this.formError.replaceChildren();
    this.setBusy(true);
    const pending = userMessage(text, null);
    this.transcript.append(pending);
    try {
      const stream = await this.client.run(this.session.id, text);
      this.input.value = "";
      if (stream.workflowRuns.length > 0)
        pending.querySelector(".msg-body")!.append(startedRuns(stream.workflowRuns));
      this.follow(stream);
    } catch (err) {
      pending.remove();
      this.setBusy(false);
      const message =
        err instanceof ApiError && err.code === "busy"
          ? "The agent is still working on the previous message. Stop it or wait."
          : (err as Error).message;
      this.formError.append(notice("error", message));
    }
  }

  private follow(stream: AgentStream): void {
    this.stream = stream;
    this.current = undefined;
    this.setBusy(true);
    let first = true;
    stream.on("event", (e) => {
      if (first) {
        first = false;
        // History may already hold this run (it ended while the page loaded): the stream replaces it.
        for (const old of this.transcript.querySelectorAll(
          `li.msg-assistant[data-workload="${CSS.escape(e.workload_id)}"]`,
        ))
          old.remove();
      }
      this.onEvent(e);
    });
    stream.on("state", (state) => this.showState(state));
    stream.on("end", (state) => {
      if (state === "cancelled") this.assistant(stream.workloadId ?? null).stopped();
      else if (state === "failed" && stream.failure && !(stream.failure.name === "RunFailedError")) {
        this.assistant(stream.workloadId ?? null).el.append(
          notice(
            "error",
            `Lost the connection to the run: ${stream.failure.message}. Reload the page to see how it ended.`,
          ),
        );
      }
      this.stream = undefined;
      this.setBusy(false);
      this.showState(state);
      this.input.focus();
    });
    this.showState(stream.state);
  }

  private assistant(workloadId: string | null): AssistantMessage {
    if (!this.current) {
      this.current = new AssistantMessage(workloadId);
      this.transcript.append(this.current.el);
    }
    return this.current;
  }

  private onEvent(e: StreamEvent): void {
    const a = this.assistant(e.workload_id);
    switch (e.type) {
      case "token":
        a.addText((e as StreamEvent<"token">).data.text);
        break;
      case "tool_start": {
        const d = (e as StreamEvent<"tool_start">).data;
        a.toolStart(d.id, d.name, d.input);
        break;
      }
      case "tool_end": {
        const d = (e as StreamEvent<"tool_end">).data;
        a.toolEnd(d.id, d.name, d.output, d.is_error, d.truncated);
        break;
      }
      case "log":
        a.log(e as StreamEvent<"log">);
        break;
      case "done":
      case "error":
        a.end(e as StreamEvent<"done">);
        break;
      default:
        break; // step events belong to workflow runs
    }
  }

  private async abort(): Promise<void> {
    const stream = this.stream;
    if (!stream) return;
    this.stop.disabled = true;
    this.stop.textContent = "Stopping…";
    try {
      await stream.abort();
    } catch (err) {
      this.formError.replaceChildren(notice("error", `Could not stop the run: ${(err as Error).message}`));
    }
  }

  private setBusy(busy: boolean): void {
    this.send.disabled = busy;
    this.stop.disabled = !busy;
    this.stop.textContent = "Stop";
    this.transcript.setAttribute("aria-busy", String(busy));
  }

  private showState(state: StreamState): void {
    const text =
      STATE_TEXT[state] ??
      (state === "cancelled"
        ? "Stopped."
        : state === "failed"
          ? "The run failed."
          : state === "done"
            ? "Done."
            : "");
    this.status.textContent = text;
    this.status.dataset.state = state;
  }
}

/** "Started: review, triage": links to the workflow runs a message started. */
function startedRuns(runs: CreatedRun[]): HTMLElement {
  const links = runs.flatMap((r, i) => [i > 0 ? ", " : "", h("a", { href: urls.run(r.id) }, r.workflow)]);
  return h("p", { class: "started-runs muted" }, "Started workflows: ", ...links);
}

function userMessage(text: string, workloadId: string | null): HTMLLIElement {
  return h(
    "li",
    { class: "msg msg-user", "data-workload": workloadId ?? undefined },
    h("div", { class: "who" }, "You"),
    h("div", { class: "msg-body" }, h("div", { class: "msg-text" }, text)),
  );
}

export async function renderChat(id: string): Promise<void> {
  if (!signedIn()) {
    setTitle("Sign in");
    replace(
      main(),
      h(
        "div",
        { class: "page-narrow" },
        h("h1", null, "Agent chat"),
        notice(
          "info",
          "Chats belong to the user who started them. ",
          h("a", { href: urls.login(location.pathname) }, "Sign in"),
          " to open this one.",
        ),
      ),
    );
    return;
  }
  const client = new AgentClient({ baseUrl: location.origin, token: auth.token(), fetch: browserFetch });
  let session: SessionView;
  try {
    session = await client.session(id);
  } catch (err) {
    setTitle("Not found");
    replace(
      main(),
      h(
        "div",
        { class: "page-narrow" },
        h("h1", null, "Chat not found"),
        notice(
          err instanceof ApiError && err.status === 404 ? "warning" : "error",
          err instanceof ApiError && err.status === 404
            ? "There is no such chat, or it belongs to someone else."
            : (err as Error).message,
        ),
      ),
    );
    return;
  }
  const config = await serverConfig().catch(() => undefined);
  await new ChatPage(session).mount(config?.agents.configured === false ? config.agents.message : undefined);
}
