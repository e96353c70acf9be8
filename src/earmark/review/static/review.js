// earmark label review page.
//
// Every card is built from the JSON in #review-data with DOM nodes and textContent: no datum is
// ever parsed as HTML. Decisions live in localStorage (keyed by the card's suggestion, clip and
// class) and become label edits (clip, class, action, who, why, time): exported as a CSV through
// the download link, and, when the page is served by `earmark review --serve`, posted to the
// server, which writes them into the edits file.
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("review-data").textContent);
  const items = data.items;
  const storageKey = "earmark-review:" + data.reviewId;
  const EDIT_COLUMNS = ["clip", "class", "action", "who", "why", "time"];
  const VERB = { add: "Add", remove: "Remove", blacklist: "Blacklist" };
  const DONE = { accept: "accepted", reject: "rejected", other: "other label", skip: "skipped" };
  const EAGER_CARDS = 12; // cards whose media load at once; the rest load near the current card

  // ------------------------------------------------------------------ state
  let storageWorks = true;
  const state = loadState();
  let current = Math.min(Math.max(0, state.current || 0), Math.max(0, items.length - 1));
  let served = false;
  let sending = Promise.resolve();
  let exportUrl = null;
  const cards = [];

  function loadState() {
    let saved = null;
    try {
      saved = JSON.parse(window.localStorage.getItem(storageKey) || "null");
    } catch (error) {
      storageWorks = false;
    }
    // written: per card, the edits the server confirmed writing (what a new decision replaces)
    const fresh = { who: data.who || "", decisions: {}, written: {}, current: 0, autoplay: false, seq: 0 };
    if (!saved || typeof saved !== "object" || typeof saved.decisions !== "object") return fresh;
    if (typeof saved.written !== "object" || saved.written === null) saved.written = {};
    return Object.assign(fresh, saved);
  }

  function saveState() {
    state.current = current;
    try {
      window.localStorage.setItem(storageKey, JSON.stringify(state));
    } catch (error) {
      storageWorks = false;
    }
  }

  // ------------------------------------------------------------------ small DOM helpers
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function fmt(value, digits) {
    return typeof value === "number" && isFinite(value) ? value.toFixed(digits) : "–";
  }

  function seconds(value) {
    return typeof value === "number" && isFinite(value) ? value.toFixed(1) + " s" : "";
  }

  function hz(value) {
    return value >= 1000 ? (value / 1000).toFixed(value % 1000 ? 1 : 0) + " kHz" : Math.round(value) + " Hz";
  }

  // ------------------------------------------------------------------ decisions → edits
  function nowIso() {
    return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  // The edits of each decision come with the card (earmark.review.decisions.card_edits); an
  // "other" decision's name the chosen label as CHOSEN, and drop the removal of the chosen label.
  const CHOSEN = "{chosen}";

  function editsFor(item, decision, chosen) {
    const who = state.who.trim();
    const time = nowIso();
    const fill = (text) => (decision === "other" ? text.split(CHOSEN).join(chosen) : text);
    return (item.edits[decision] || [])
      .filter((draft) => !(draft.unlessChosen && draft.class === chosen))
      .map((draft) => ({
        clip: item.clip,
        class: fill(draft.class),
        action: draft.action,
        who,
        why: fill(draft.why),
        time,
      }));
  }

  function decide(index, decision, chosen) {
    const item = items[index];
    if (decision === null) {
      delete state.decisions[item.key];
    } else {
      state.seq += 1;
      state.decisions[item.key] = {
        decision,
        chosen: chosen || "",
        edits: editsFor(item, decision, chosen),
        seq: state.seq,
      };
    }
    saveState();
    renderCard(index);
    renderProgress();
    send(item.key);
  }

  function allEdits() {
    return Object.values(state.decisions)
      .sort((a, b) => a.seq - b.seq)
      .flatMap((entry) => entry.edits);
  }

  // spreadsheet-safe text, as earmark.io writes it: a leading ' before = + - @ tab CR '
  function csvCell(value) {
    let text = String(value === undefined || value === null ? "" : value);
    if (/^[=+\-@\t\r']/.test(text)) text = "'" + text;
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function editsCsv() {
    const lines = [EDIT_COLUMNS.join(",")];
    for (const edit of allEdits()) lines.push(EDIT_COLUMNS.map((c) => csvCell(edit[c])).join(","));
    return lines.join("\n") + "\n";
  }

  // ------------------------------------------------------------------ the server (--serve)
  function setStatus(text, kind) {
    const node = document.getElementById("save-status");
    node.textContent = text;
    node.className = "save-status" + (kind ? " " + kind : "");
  }

  function send(key) {
    if (!served) return;
    sending = sending.then(() => post(key));
  }

  function unsaved(key) {
    const entry = state.decisions[key];
    return JSON.stringify(state.written[key] || []) !== JSON.stringify(entry ? entry.edits : []);
  }

  // the server takes the card's previously written edits out of the file and appends the new ones
  async function post(key) {
    if (!unsaved(key)) return;
    const entry = state.decisions[key];
    const edits = entry ? entry.edits : [];
    setStatus("saving…", "");
    try {
      const response = await fetch("api/decision", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ key, previous: state.written[key] || [], edits }),
      });
      const reply = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(reply.error || "HTTP " + response.status);
      if (edits.length) state.written[key] = edits;
      else delete state.written[key];
      saveState();
      setStatus("saved to " + reply.file + " (" + reply.count + " edits)", "ok");
    } catch (error) {
      setStatus("not saved: " + error.message + " (download the edits instead)", "bad");
    }
  }

  async function detectServer() {
    if (!/^https?:$/.test(window.location.protocol)) return;
    try {
      const response = await fetch("api/status", { cache: "no-store" });
      if (!response.ok) return;
      const status = await response.json();
      served = status.served === true;
      if (!served) return;
      setStatus("saving to " + status.file, "ok");
      const keys = new Set([...Object.keys(state.decisions), ...Object.keys(state.written)]);
      for (const key of keys) if (unsaved(key)) send(key);
    } catch (error) {
      served = false;
    }
  }

  // ------------------------------------------------------------------ cards
  function buildCard(item, index) {
    const clip = data.clips[item.clip];
    const card = el("article", "card");
    card.tabIndex = -1;
    card.dataset.index = String(index);
    card.dataset.kind = item.suggestion;

    const head = el("header", "card-head");
    head.append(el("span", "rank", "#" + item.rank));
    const badge = el("span", "badge " + item.suggestion);
    badge.append(el("span", "verb", VERB[item.suggestion]));
    badge.append(el("span", "what", item.suggestion === "blacklist" ? "whole clip" : item.class));
    head.append(badge);
    head.append(el("span", "clip-id", item.clip));
    const meta = [clip.source, clip.fold >= 0 ? "fold " + clip.fold : "", seconds(clip.duration)];
    head.append(el("span", "meta", meta.filter(Boolean).join(" · ")));
    const score = el("span", "score", "suspicion " + fmt(item.score, 3));
    score.title = item.classRank ? "rank " + item.classRank + " within its class" : "";
    head.append(score);
    head.append(el("span", "status"));
    card.append(head);

    const body = el("div", "card-body");
    body.append(buildMedia(clip, index < EAGER_CARDS), buildFacts(item, clip));
    card.append(body);
    card.append(buildDecide(item, index));
    card.addEventListener("click", (event) => {
      if (current !== index) setCurrent(index, false);
      if (event.target === card) card.focus();
    });
    return card;
  }

  function buildMedia(clip, eager) {
    const box = el("div", "media");
    const figure = el("div", "spectro");
    if (clip.spectrogram) {
      const image = el("img");
      image.src = clip.spectrogram;
      image.alt = "log-mel spectrogram";
      image.draggable = false;
      if (!eager) image.loading = "lazy";
      figure.append(image);
      if (data.frequencyHz) {
        figure.append(el("span", "freq high", hz(data.frequencyHz[1])));
        figure.append(el("span", "freq low", hz(data.frequencyHz[0])));
      }
    } else {
      figure.append(el("div", "placeholder", "no spectrogram"));
    }
    const head = el("div", "playhead");
    figure.append(head);
    box.append(figure);
    box.append(timeAxis(clip.seconds || 0));
    if (clip.audio) {
      const audio = el("audio");
      audio.controls = true;
      audio.preload = eager ? "metadata" : "none";
      audio.src = clip.audio;
      const move = () => {
        const total = clip.seconds || audio.duration || 1;
        head.style.left = Math.min(100, (100 * audio.currentTime) / total) + "%";
        head.classList.toggle("on", !audio.paused || audio.currentTime > 0);
        if (!audio.paused) window.requestAnimationFrame(move);
      };
      audio.addEventListener("play", () => {
        for (const other of document.querySelectorAll("audio")) if (other !== audio) other.pause();
        move();
      });
      audio.addEventListener("timeupdate", move);
      audio.addEventListener("seeked", move);
      figure.addEventListener("click", (event) => {
        const box = figure.getBoundingClientRect();
        const total = clip.seconds || audio.duration || 0;
        audio.currentTime = Math.max(0, Math.min(total, ((event.clientX - box.left) / box.width) * total));
        audio.play().catch(() => {});
      });
      box.append(audio);
    } else {
      box.append(el("div", "placeholder audio-missing", clip.audioError || "no audio"));
    }
    const notes = [];
    if (clip.peakDbfs !== null && clip.peakDbfs !== undefined) notes.push("peak " + fmt(clip.peakDbfs, 1) + " dBFS");
    else if (clip.audio) notes.push("silent");
    if (clip.duration && clip.seconds && clip.duration > clip.seconds + 0.05) {
      notes.push("first " + seconds(clip.seconds) + " of " + seconds(clip.duration));
    }
    if (clip.path) notes.push(clip.path);
    const note = el("div", "note", notes.join(" · "));
    note.title = clip.path || "";
    box.append(note);
    return box;
  }

  function timeAxis(total) {
    const axis = el("div", "axis");
    if (!(total > 0)) return axis;
    const step = [0.25, 0.5, 1, 2, 5, 10, 15, 30, 60].find((s) => total / s <= 6) || 60;
    for (let t = 0; t <= total + 1e-6; t += step) {
      const at = (100 * t) / total;
      const tick = el("span", at === 0 ? "first" : at > 97 ? "last" : "", (step < 1 ? t.toFixed(2) : String(t)) + " s");
      if (at <= 97) tick.style.left = at + "%";
      axis.append(tick);
    }
    return axis;
  }

  function chip(name, className) {
    return el("span", "chip " + className, name);
  }

  function buildFacts(item, clip) {
    const facts = el("div", "facts");
    facts.append(el("h3", "", "Current labels"));
    const chips = el("div", "chips");
    for (const name of clip.positive) chips.append(chip(name, name === item.class ? "pos target" : "pos"));
    if (item.suggestion === "add") chips.append(chip(item.class, "ghost"));
    if (!clip.positive.length && item.suggestion !== "add") chips.append(el("span", "none", "no positive label"));
    facts.append(chips);
    const known = [];
    if (clip.negative) known.push(clip.negative + (clip.negative === 1 ? " known negative" : " known negatives"));
    if (clip.missing) known.push(clip.missing + " not annotated");
    if (known.length) facts.append(el("div", "small", known.join(" · ")));

    facts.append(el("h3", "", "Model's top scores"));
    const top = item.top.length ? item.top : item.modelScore !== null ? [[item.class, item.modelScore]] : [];
    if (!top.length) facts.append(el("div", "none", "no scores in the audit"));
    const bars = el("div", "bars");
    for (const [name, value] of top.slice(0, 5)) {
      const row = el("div", "bar-row" + (name === item.class ? " target" : ""));
      row.append(el("span", "bar-name", name));
      const track = el("span", "bar-track");
      const fill = el("span", "bar-fill");
      fill.style.width = Math.max(0, Math.min(1, value)) * 100 + "%";
      track.append(fill);
      row.append(track, el("span", "bar-value", fmt(value, 2)));
      bars.append(row);
    }
    facts.append(bars);
    if (item.modelScore !== null && item.class && !top.some(([name]) => name === item.class)) {
      facts.append(el("div", "small", item.class + ": " + fmt(item.modelScore, 3)));
    }
    if (clip.earlier && clip.earlier.length) {
      facts.append(el("h3", "", "Earlier edits"));
      for (const edit of clip.earlier) {
        const text = edit.action + (edit.class ? " " + edit.class : "") + (edit.who ? " — " + edit.who : "");
        const line = el("div", "small earlier", text);
        line.title = edit.why;
        facts.append(line);
      }
    }
    return facts;
  }

  function buildDecide(item, index) {
    const bar = el("footer", "decide");
    const button = (label, key, className, decision) => {
      const node = el("button", "button " + className);
      node.type = "button";
      node.append(document.createTextNode(label + " "), el("kbd", "", key));
      node.addEventListener("click", (event) => {
        event.stopPropagation();
        setCurrent(index, false);
        decide(index, decision, "");
        cards[index].focus({ preventScroll: true }); // so space plays instead of pressing the button
      });
      return node;
    };
    const target = item.suggestion === "blacklist" ? "the whole clip" : "“" + item.class + "”";
    const accept = button("Accept", "a", "accept", "accept");
    accept.title = item.suggestion + " " + target;
    const reject = button("Reject", "r", "reject", "reject");
    reject.title = item.suggestion === "blacklist" ? "keep the clip and its labels" : "keep the label as it is";
    const skip = button("Skip", "s", "skip", "skip");
    skip.title = "decide later (no edit)";
    bar.append(accept, reject, skip);
    const label = el("label", "other");
    label.append(document.createTextNode("Other label "));
    const select = el("select", "choose");
    select.append(el("option", "", "choose…"));
    select.firstChild.value = "";
    for (const name of data.classes) {
      const option = el("option", "", name);
      option.value = name;
      select.append(option);
    }
    // a closed select changes with every key typed into it: commit on Enter or when it loses
    // focus, at once only for a choice made with the pointer or in the opened list
    let typing = false;
    const commit = () => {
      const entry = state.decisions[item.key];
      const chosen = entry && entry.decision === "other" ? entry.chosen : "";
      if (select.value && select.value !== chosen) decide(index, "other", select.value);
    };
    select.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        select.blur();
      } else if (event.key === "Escape") {
        select.value = "";
        renderCard(index);
        select.blur();
      } else {
        typing = true;
      }
    });
    select.addEventListener("change", () => {
      if (!typing) select.blur();
    });
    select.addEventListener("blur", () => {
      typing = false;
      commit();
      if (document.activeElement === document.body) cards[index].focus({ preventScroll: true });
    });
    label.append(select, el("kbd", "", "l"));
    bar.append(label);
    const undo = button("Undo", "u", "undo", null);
    bar.append(undo);
    bar.append(el("div", "outcome"));
    return bar;
  }

  function describeEdits(edits) {
    if (!edits.length) return "no edit";
    const list = edits.map((e) => e.action + (e.class ? " “" + e.class + "”" : " the clip")).join(", ");
    return (edits.length === 1 ? "edit: " : "edits: ") + list;
  }

  function renderCard(index) {
    const card = cards[index];
    const entry = state.decisions[items[index].key];
    const decision = entry ? entry.decision : "";
    card.dataset.decision = decision;
    card.querySelector(".status").textContent = decision ? DONE[decision] : "";
    card.querySelector(".outcome").textContent = entry ? "→ " + describeEdits(entry.edits) : "";
    card.querySelector(".choose").value = decision === "other" ? entry.chosen : "";
    card.querySelector(".undo").disabled = !entry;
  }

  // ------------------------------------------------------------------ progress, filters, export
  function renderProgress() {
    const counts = { accept: 0, reject: 0, other: 0, skip: 0 };
    for (const item of items) {
      const entry = state.decisions[item.key];
      if (entry) counts[entry.decision] += 1;
    }
    const decided = counts.accept + counts.reject + counts.other;
    document.getElementById("progress-text").textContent = decided + " of " + items.length + " decided";
    const share = items.length ? (100 * decided) / items.length : 0;
    document.getElementById("meter-fill").style.width = share + "%";
    const tally = document.getElementById("tally");
    tally.replaceChildren();
    for (const [decision, count] of Object.entries(counts)) {
      tally.append(el("span", "tally-" + decision, count + " " + DONE[decision]));
    }
    const edits = allEdits();
    const link = document.getElementById("export");
    link.textContent = "Download edits (" + edits.length + ")";
    if (exportUrl) URL.revokeObjectURL(exportUrl);
    exportUrl = URL.createObjectURL(new Blob([editsCsv()], { type: "text/csv" }));
    link.href = exportUrl;
    link.download = data.editsName || "label-edits.csv";
    applyFilters();
  }

  function visible(index) {
    const item = items[index];
    const classWanted = document.getElementById("filter-class").value;
    const kind = document.getElementById("filter-kind").value;
    const status = document.getElementById("filter-status").value;
    const entry = state.decisions[item.key];
    const decided = Boolean(entry) && entry.decision !== "skip";
    if (classWanted && item.class !== classWanted) return false;
    if (kind && item.suggestion !== kind) return false;
    if (status === "open" && decided) return false;
    if (status === "done" && !decided) return false;
    return true;
  }

  function applyFilters() {
    let shown = 0;
    cards.forEach((card, index) => {
      const show = visible(index) || index === current;
      card.hidden = !show;
      if (show) shown += 1;
    });
    document.getElementById("shown").textContent = "showing " + shown + " of " + items.length;
    document.getElementById("empty").hidden = shown > 0;
  }

  function setCurrent(index, scroll) {
    if (index < 0 || index >= cards.length) return;
    const before = cards[current];
    if (before) {
      before.classList.remove("current");
      const audio = before.querySelector("audio");
      if (audio && index !== current) audio.pause();
    }
    current = index;
    const card = cards[current];
    card.classList.add("current");
    for (const near of cards.slice(current, current + 3)) {
      const audio = near.querySelector("audio");
      if (audio && audio.preload === "none") audio.preload = "metadata";
    }
    applyFilters();
    if (scroll) {
      card.scrollIntoView({ block: "center" });
      card.focus({ preventScroll: true });
    }
    saveState();
  }

  function step(direction) {
    for (let index = current + direction; index >= 0 && index < items.length; index += direction) {
      if (visible(index)) {
        setCurrent(index, true);
        if (state.autoplay) play(true);
        return true;
      }
    }
    return false;
  }

  function play(forceStart) {
    const audio = cards[current] && cards[current].querySelector("audio");
    if (!audio) return;
    if (audio.paused || forceStart) {
      if (forceStart || audio.ended) audio.currentTime = 0;
      audio.play().catch(() => {});
    } else {
      audio.pause();
    }
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const tag = event.target && event.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    if (tag === "AUDIO" && event.key === " ") return; // the player's own control handles it
    if (!cards.length) return;
    const key = event.key;
    const actions = {
      " ": () => play(false),
      a: () => decideAndGo("accept"),
      r: () => decideAndGo("reject"),
      s: () => decideAndGo("skip"),
      u: () => decide(current, null, ""),
      l: () => choose(),
      j: () => step(1),
      n: () => step(1),
      ArrowDown: () => step(1),
      k: () => step(-1),
      p: () => step(-1),
      ArrowUp: () => step(-1),
    };
    const action = actions[key] || actions[key.toLowerCase()];
    if (!action) return;
    event.preventDefault();
    action();
  }

  function choose() {
    const select = cards[current].querySelector(".choose");
    select.focus();
    try {
      select.showPicker();
    } catch (error) {
      // no picker from here: the focused list still takes arrow keys and Enter
    }
  }

  function decideAndGo(decision) {
    decide(current, decision, "");
    step(1);
  }

  // ------------------------------------------------------------------ start
  function start() {
    const classFilter = document.getElementById("filter-class");
    const used = new Set(items.map((item) => item.class).filter(Boolean));
    for (const name of data.classes) {
      if (!used.has(name)) continue;
      const option = el("option", "", name);
      option.value = name;
      classFilter.append(option);
    }
    for (const id of ["filter-class", "filter-kind", "filter-status"]) {
      document.getElementById(id).addEventListener("change", (event) => {
        applyFilters();
        event.target.blur();
        if (!visible(current)) step(1) || step(-1);
      });
    }
    const who = document.getElementById("who");
    who.value = state.who;
    who.addEventListener("input", () => {
      state.who = who.value;
      saveState();
    });
    const autoplay = document.getElementById("autoplay");
    autoplay.checked = Boolean(state.autoplay);
    autoplay.addEventListener("change", () => {
      state.autoplay = autoplay.checked;
      saveState();
      autoplay.blur();
    });
    const main = document.getElementById("cards");
    items.forEach((item, index) => {
      const card = buildCard(item, index);
      cards.push(card);
      main.append(card);
      renderCard(index);
    });
    if (!items.length) document.getElementById("empty").textContent = "Nothing to review: the audit flags no item.";
    const footer = document.getElementById("footer");
    const notes = data.notes.slice();
    if (!storageWorks) notes.unshift("This browser does not keep decisions across reloads here: download the edits.");
    for (const note of notes) footer.append(el("p", "note", note));
    footer.append(el("p", "small", items.length + " cards · " + Object.keys(data.clips).length + " clips · earmark review"));
    renderProgress();
    if (cards.length) setCurrent(current, current > 0);
    document.addEventListener("keydown", onKey);
    detectServer();
    window.earmarkReview = { editsCsv, allEdits, state };
  }

  start();
})();
