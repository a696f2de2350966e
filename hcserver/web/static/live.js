// Live pages: the server says when something changed (server-sent events from its event bus);
// the page then fetches its own main part again. Without this script every page still works.
"use strict";
(function () {
  if (!window.EventSource) return;
  const live = document.getElementById("live");
  let timer = null;
  let busy = false;

  async function refresh() {
    timer = null;
    if (busy) { timer = setTimeout(refresh, 250); return; }
    busy = true;
    try {
      const answer = await fetch(location.href, {headers: {"X-Fragment": "main"}, credentials: "same-origin"});
      if (answer.ok) {
        const main = document.getElementById("main");
        const focused = document.activeElement && document.activeElement.id;
        main.innerHTML = await answer.text();
        if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
      }
    } finally {
      busy = false;
    }
  }

  const events = new EventSource("/events");
  events.addEventListener("open", function () { if (live) { live.hidden = false; live.textContent = "Live"; } });
  events.addEventListener("error", function () { if (live) live.textContent = "Not live: reload to update"; });
  // A burst of changes (a job's films, one after the other) costs one fetch, not one each.
  events.addEventListener("change", function () { if (!timer) timer = setTimeout(refresh, 200); });
})();
