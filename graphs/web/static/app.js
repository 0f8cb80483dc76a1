// copydesk review pages: follow a running thread over server-sent events.
// Everything a model wrote is put into the page as text (textContent), never as markup.
"use strict";

function follow(live) {
  const tokens = document.getElementById("tokens");
  const speaker = document.getElementById("speaker");
  const drafts = document.getElementById("live-drafts");
  const notice = document.getElementById("live-notice");
  const status = document.getElementById("status");
  const source = new EventSource(live.dataset.events);
  const data = (event) => JSON.parse(event.data);

  let turnStart = 0; // where the current speaker's tokens begin, for a restart
  source.addEventListener("turn_started", (event) => {
    const agent = data(event).agent;
    speaker.textContent = agent + " is speaking";
    tokens.textContent += (tokens.textContent ? "\n\n" : "") + "[" + agent + "]\n";
    turnStart = tokens.textContent.length;
  });
  source.addEventListener("token", (event) => {
    tokens.textContent += data(event).text;
  });
  source.addEventListener("restart", () => {
    tokens.textContent = tokens.textContent.slice(0, turnStart);
  });
  source.addEventListener("turn", (event) => {
    const turn = data(event);
    const item = document.createElement("li");
    const head = document.createElement("strong");
    if (turn.draft !== undefined) {
      head.textContent = "Round " + turn.round + ", " + turn.agent + ": new draft";
      const body = document.createElement("pre");
      body.className = "draft live-draft";
      body.textContent = turn.draft;
      item.append(head, body);
    } else if (turn.verdict) {
      head.textContent = turn.agent + ": " + turn.verdict.decision + ". ";
      item.append(head, document.createTextNode(turn.verdict.summary || ""));
    } else {
      return;
    }
    drafts.append(item);
  });
  source.addEventListener("failed", (event) => {
    if (event.data) {
      notice.hidden = false;
      notice.className = "problem";
      notice.textContent = data(event).message;
    }
  });
  source.addEventListener("end", (event) => {
    const end = data(event);
    status.textContent = end.status.replaceAll("_", " ");
    status.className = "status status-" + end.status;
    speaker.textContent = "";
    notice.hidden = false;
    notice.textContent = "The run ended (" + end.status.replaceAll("_", " ") + "). ";
    const again = document.createElement("a");
    again.href = window.location.pathname;
    again.textContent = "Show the redline and issues";
    notice.append(again);
  });
  for (const name of ["close", "idle"]) {
    source.addEventListener(name, () => source.close());
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live");
  if (live) follow(live);
});
