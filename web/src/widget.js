// The website chat widget: one <script> tag, talking to the assistant's socket.io channel.
//
//   <script src="https://…/widget.js" data-server="https://chat.example.org" data-title="Find support"
//           data-help-url="https://…/help" data-exit-url="https://www.bbc.co.uk/weather" defer></script>
//
// or set window.PerinatalChatConfig = {server, title, accent, helpUrl, exitUrl, target, open} first.
// Everything the person sees is rendered as text (never HTML). The conversation lives in sessionStorage:
// a reload continues it, closing the tab forgets it. Quick exit (button, or Escape twice) wipes it and
// replaces the page with a neutral site, leaving no chat in the back button's history.
import { io } from "socket.io-client";

(function () {
  "use strict";
  if (window.__perinatalChat) return; // one widget per page

  const script = document.currentScript;
  const data = (script && script.dataset) || {};
  const base = script && script.src ? new URL(".", script.src).href : "/";
  const config = Object.assign(
    {
      server: window.location.origin,
      title: "Find perinatal peer support",
      accent: "#1f5f66",
      helpUrl: base + "help",
      exitUrl: "https://www.bbc.co.uk/weather",
      target: null,
      open: true,
    },
    window.PerinatalChatConfig || {},
    pick(data, ["server", "title", "accent", "helpUrl", "exitUrl", "target"]),
    data.open !== undefined ? { open: data.open !== "false" } : {}
  );

  ["helpUrl", "exitUrl", "server"].forEach(function (k) { // relative addresses, as the page would read them
    try { config[k] = new URL(config[k], window.location.href).href; } catch (e) { /* left as given */ }
  });
  const KEY = "perinatal-chat:";
  const FORMATS = { group: "Group", one_to_one: "One-to-one", phone: "Phone", online: "Online", text: "Text or chat" };
  const AUDIENCES = { mothers: "mums", fathers_partners: "dads and partners", families: "families" };
  const ERASE = "/confirm_erasure";

  function pick(source, keys) {
    const out = {};
    keys.forEach(function (k) { if (source[k]) out[k] = source[k]; });
    return out;
  }

  // --- storage (sessionStorage: this tab only) -------------------------------------------------
  const store = {
    get: function (name, fallback) {
      try { const v = window.sessionStorage.getItem(KEY + name); return v === null ? fallback : JSON.parse(v); }
      catch (e) { return fallback; }
    },
    set: function (name, value) {
      try { window.sessionStorage.setItem(KEY + name, JSON.stringify(value)); } catch (e) { /* private mode */ }
    },
    clear: function () {
      try {
        Object.keys(window.sessionStorage).forEach(function (k) { if (k.indexOf(KEY) === 0) window.sessionStorage.removeItem(k); });
      } catch (e) { /* nothing to clear */ }
    },
  };
  let transcript = store.get("transcript", []); // [{from: "bot"|"user", event|text}]
  let outbox = store.get("outbox", []); // [{id, message, shown}] not yet acknowledged by the server
  let lastSeq = store.get("seq", 0); // the last reply shown: replies are numbered per server process (epoch)
  let epoch = store.get("epoch", null);

  // --- the DOM (text only: textContent, never innerHTML) ---------------------------------------
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else if (k === "hidden") node.hidden = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }
  function safeHref(href) {
    return typeof href === "string" && /^(https?:\/\/|tel:)/i.test(href) ? href : null;
  }
  function link(href, text) {
    const safe = safeHref(href);
    if (!safe) return document.createTextNode(text);
    const a = el("a", { href: safe, text: text });
    if (/^https?:/i.test(safe)) { a.target = "_blank"; a.rel = "noopener noreferrer"; }
    return a;
  }
  function telHref(number) {
    const digits = String(number).replace(/[^0-9+]/g, "");
    return digits ? "tel:" + digits : null;
  }
  // Phone numbers in a message become tel: links (the crisis answer's numbers can be tapped).
  const NUMBER = /(\+?\d[\d ]{1,14}\d)/g;
  function textWithNumbers(parent, text) {
    let last = 0;
    text.replace(NUMBER, function (match, _g, offset) {
      const digits = match.replace(/ /g, "");
      // 999 and 111, or a full number; not a short code (SHOUT's 85258 is texted), an age or a year
      if (digits.length === 3 ? !/^(999|111)$/.test(digits) : digits.length < 6) return match;
      parent.appendChild(document.createTextNode(text.slice(last, offset)));
      parent.appendChild(link(telHref(match), match));
      last = offset + match.length;
      return match;
    });
    parent.appendChild(document.createTextNode(text.slice(last)));
  }
  function paragraphs(text) {
    const box = el("div", { className: "pcw-text" });
    String(text || "").split(/\n{2,}/).forEach(function (para) {
      const p = el("p");
      para.split("\n").forEach(function (line, i) {
        if (i) p.appendChild(el("br"));
        textWithNumbers(p, line);
      });
      box.appendChild(p);
    });
    return box;
  }

  const root = el("section", { className: "pcw", "aria-label": config.title });
  root.style.setProperty("--pcw-accent", config.accent);
  const title = el("h2", { className: "pcw-title", text: config.title });
  const exitButton = el("button", { type: "button", className: "pcw-exit", text: "Quick exit" });
  exitButton.setAttribute("aria-describedby", "pcw-exit-hint");
  const exitHint = el("span", { id: "pcw-exit-hint", className: "pcw-visually-hidden",
    text: "Leaves this page at once and clears this chat. You can also press Escape twice." });
  const emergency = el("p", { className: "pcw-emergency" }, [
    document.createTextNode("In an emergency call "), link("tel:999", "999"), document.createTextNode(". "),
    link(config.helpUrl, "Other urgent help"),
  ]);
  const status = el("p", { className: "pcw-status", role: "status", hidden: true });
  // role=log: new messages are announced politely; a div (an <ol> with role=log loses its list semantics)
  const log = el("div", { className: "pcw-log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
  const typing = el("p", { className: "pcw-typing", hidden: true, text: "The assistant is typing…" });
  const input = el("textarea", { id: "pcw-input", className: "pcw-input", rows: "2", maxlength: "2000",
    autocomplete: "off", "aria-label": "Your message" });
  const send = el("button", { type: "submit", className: "pcw-send", text: "Send" });
  const form = el("form", { className: "pcw-form" }, [input, send]);
  const clear = el("button", { type: "button", className: "pcw-clear", text: "Clear this chat" });
  root.append(el("header", { className: "pcw-header" }, [title, exitButton, exitHint]), emergency, status, log,
    typing, form, el("div", { className: "pcw-footer" }, [clear]));

  function mount() {
    if (!document.querySelector("link[data-pcw]")) { // the widget's own stylesheet, from where the script came
      const sheet = el("link", { rel: "stylesheet", href: base + "widget.css", "data-pcw": "" });
      document.head.appendChild(sheet);
    }
    const target = config.target ? document.querySelector(config.target) : null;
    (target || document.body).appendChild(root);
    if (!target) root.classList.add("pcw-floating");
  }

  // --- messages ------------------------------------------------------------------------------
  function renderUser(text) {
    log.appendChild(el("div", { className: "pcw-msg pcw-user" }, [el("span", { className: "pcw-visually-hidden", text: "You: " }),
      paragraphs(text)]));
  }
  function clearQuickReplies() {
    log.querySelectorAll(".pcw-replies").forEach(function (n) { n.remove(); });
  }
  function renderCards(services) {
    const list = el("ul", { className: "pcw-cards" });
    services.forEach(function (s) {
      if (!s || typeof s !== "object") return;
      const card = el("li", { className: "pcw-card" }, [el("h3", { className: "pcw-card-name", text: String(s.name || "") })]);
      const facts = [];
      if (Array.isArray(s.formats) && s.formats.length) facts.push(s.formats.map(function (f) { return FORMATS[f] || String(f); }).join(", "));
      if (Array.isArray(s.audiences) && s.audiences.length) facts.push("For " + s.audiences.map(function (a) { return AUDIENCES[a] || String(a); }).join(", "));
      if (facts.length) card.appendChild(el("p", { className: "pcw-card-facts", text: facts.join(" · ") }));
      (Array.isArray(s.phones) ? s.phones : []).slice(0, 2).forEach(function (p) {
        if (!p || !p.number) return;
        const verb = p.type === "text" ? "Text " : "Call ";
        const line = el("p", { className: "pcw-card-phone" }, [document.createTextNode(verb)]);
        line.appendChild(p.type === "text" ? document.createTextNode(String(p.number)) : link(telHref(p.number), String(p.number)));
        card.appendChild(line);
      });
      const site = safeHref(s.url) || safeHref(s.organization && s.organization.url);
      if (site && /^https?:/i.test(site)) card.appendChild(el("p", { className: "pcw-card-web" }, [link(site, "Website")]));
      if (s.reason) card.appendChild(el("p", { className: "pcw-card-why", text: "Why: " + String(s.reason) }));
      list.appendChild(card);
    });
    return list;
  }
  function renderBot(event, live) {
    const custom = event.custom && typeof event.custom === "object" ? event.custom : {};
    const crisis = custom.kind === "crisis";
    const item = el("div", { className: "pcw-msg pcw-bot" + (crisis ? " pcw-crisis" : "") });
    if (crisis) item.appendChild(el("strong", { className: "pcw-crisis-label", text: "Urgent help" }));
    if (event.text) item.appendChild(paragraphs(event.text));
    if (Array.isArray(custom.services) && custom.services.length) item.appendChild(renderCards(custom.services));
    if (!item.childNodes.length) return;
    log.appendChild(item);
    const replies = Array.isArray(event.quick_replies) ? event.quick_replies : [];
    if (replies.length && live) {
      clearQuickReplies();
      const group = el("div", { className: "pcw-replies", role: "group", "aria-label": "Suggested replies" });
      replies.forEach(function (r) {
        if (!r || !r.title || !r.payload) return;
        const b = el("button", { type: "button", className: "pcw-reply", text: String(r.title) });
        b.addEventListener("click", function () { clearQuickReplies(); submit(String(r.title), String(r.payload)); });
        group.appendChild(b);
      });
      log.appendChild(group);
    }
  }
  function scrollDown() { log.scrollTop = log.scrollHeight; }
  function restore() {
    transcript.forEach(function (m, i) {
      if (m.from === "user") renderUser(m.text);
      else renderBot(m.event, i === transcript.length - 1);
    });
    scrollDown();
  }

  // --- transport ------------------------------------------------------------------------------
  let socket = null;
  let sessionId = store.get("session", null);
  let confirmed = false;
  let typingTimer = null;
  let downTimer = null;

  function newId() {
    return (window.crypto && window.crypto.randomUUID) ? window.crypto.randomUUID()
      : String(Date.now()) + Math.random().toString(16).slice(2);
  }
  function showTyping(on) {
    typing.hidden = !on;
    clearTimeout(typingTimer);
    if (on) typingTimer = setTimeout(function () { typing.hidden = true; }, 15000);
  }
  function setStatus(text) {
    status.hidden = !text;
    status.textContent = text || "";
  }
  function flush() {
    if (!socket || !confirmed) return;
    outbox.forEach(function (m) {
      if (m.inFlight) return;
      m.inFlight = true;
      socket.emit("user_uttered", { message: m.message, session_id: sessionId, metadata: { client_message_id: m.id } },
        function () { // acknowledged once the server has handled it: never sent again
          outbox = outbox.filter(function (o) { return o.id !== m.id; });
          store.set("outbox", outbox.map(strip));
        });
    });
  }
  function strip(m) { return { id: m.id, message: m.message }; }
  function submit(shown, message) {
    if (!String(message || "").trim()) return;
    if (shown !== null) {
      renderUser(shown);
      transcript.push({ from: "user", text: shown });
      store.set("transcript", transcript);
      scrollDown();
    }
    outbox.push({ id: newId(), message: message });
    store.set("outbox", outbox.map(strip));
    showTyping(true);
    flush();
  }
  function connect() {
    socket = io(config.server, { path: "/socket.io", reconnectionDelayMax: 10000, timeout: 10000 });
    socket.on("connect", function () {
      clearTimeout(downTimer);
      setStatus("");
      socket.emit("session_request", { session_id: sessionId, last_seq: lastSeq, epoch: epoch });
    });
    socket.on("session_confirm", function (id) {
      if (typeof id !== "string") return;
      if (id !== sessionId) { lastSeq = 0; store.set("seq", 0); }
      sessionId = id;
      store.set("session", id);
      confirmed = true;
      outbox.forEach(function (m) { m.inFlight = false; });
      flush();
    });
    socket.on("bot_uttered", function (event) {
      if (!event || typeof event !== "object") return;
      if (typeof event.seq === "number") {
        if (event.epoch !== epoch) { epoch = event.epoch; lastSeq = 0; store.set("epoch", epoch); } // a restarted server
        if (event.seq <= lastSeq) return; // already shown (a reply re-sent after a reconnect)
        lastSeq = event.seq;
        store.set("seq", lastSeq);
      }
      showTyping(false);
      if (erasing) { erasing = false; wipeLocal(); }
      renderBot(event, true);
      transcript.push({ from: "bot", event: event });
      store.set("transcript", transcript);
      scrollDown();
    });
    function down() {
      confirmed = false;
      clearTimeout(downTimer);
      downTimer = setTimeout(function () {
        setStatus("Can't connect right now. Trying again… If you need help now: 999 in an emergency, " +
          "NHS 24 on 111, Samaritans on 116 123 (all 24/7).");
      }, 1500);
    }
    socket.on("disconnect", down);
    socket.on("connect_error", down);
  }

  // --- clearing and leaving ---------------------------------------------------------------------
  let erasing = false;
  function wipeLocal() {
    transcript = [];
    log.textContent = "";
    store.set("transcript", []);
  }
  clear.addEventListener("click", function () {
    if (!window.confirm("Clear this chat? It is deleted from this device and from our service.")) return;
    wipeLocal();
    erasing = true; // the server's confirmation ("Done: …") is the first thing shown afterwards
    submit(null, ERASE);
  });
  function quickExit() {
    store.clear();
    try { if (socket) socket.disconnect(); } catch (e) { /* leaving anyway */ }
    log.textContent = "";
    root.remove();
    window.location.replace(config.exitUrl); // replace: the chat is not left in the back button's history
  }
  exitButton.addEventListener("click", quickExit);
  let lastEscape = 0;
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    const now = Date.now();
    if (now - lastEscape < 1000) quickExit();
    lastEscape = now;
  });

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    clearQuickReplies();
    submit(text, text);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : send.click(); }
  });

  function start() {
    mount();
    restore();
    connect();
    if (!transcript.length && !outbox.length) submit(null, "/greet");
  }
  window.__perinatalChat = { config: config, quickExit: quickExit };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
