// The chat client: one WebSocket per joined room, every event rendered with textContent (no HTML injection).
"use strict";

const $ = (selector) => document.querySelector(selector);
const log = $("#log");
let socket = null;

function line(parts, className) {
  const row = document.createElement("div");
  if (className) row.className = className;
  for (const [text, cls] of parts) {
    const span = document.createElement("span");
    span.textContent = text;
    if (cls) span.className = cls;
    row.append(span);
  }
  log.append(row);
  log.scrollTop = log.scrollHeight;
}

function show(event) {
  const time = new Date(event.ts * 1000).toLocaleTimeString();
  if (event.type === "message") {
    line([[`${time} `, "meta"], [event.user, "user"], [`: ${event.text}`]], "message");
  } else if (event.type === "join" || event.type === "leave") {
    line([[`${time} ${event.user} ${event.type === "join" ? "joined" : "left"} #${event.room}`]], "notice");
    refreshRooms();
  }
}

function setConnected(connected) {
  $("#text").disabled = !connected;
  $("#send button").disabled = !connected;
  if (connected) $("#text").focus();
}

async function loadHistory(room) {
  // Without a live connection (e.g. under a WSGI server) the history still comes over HTTP.
  const response = await fetch(`/rooms/${encodeURIComponent(room)}/messages`);
  if (response.ok) (await response.json()).forEach(show);
}

function join(name, room) {
  if (socket) socket.close(1000, "switching rooms");
  log.replaceChildren();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}/ws/${encodeURIComponent(room)}?name=${encodeURIComponent(name)}`;
  const ws = new WebSocket(url);
  socket = ws;
  let opened = false;
  ws.onopen = () => {
    opened = true;
    setConnected(true);
    $("#status").textContent = `You are ${name} in #${room}.`;
  };
  ws.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "history") event.messages.forEach(show);
    else show(event);
  };
  ws.onclose = (close) => {
    if (socket !== ws) return;
    setConnected(false);
    socket = null;
    if (!opened) {
      $("#status").textContent = "Live chat needs an ASGI server (uvicorn); showing the history only.";
      loadHistory(room);
    } else {
      $("#status").textContent = `Disconnected (${close.code}${close.reason ? ": " + close.reason : ""}).`;
    }
  };
}

async function refreshRooms() {
  try {
    const response = await fetch("/rooms");
    const { rooms } = await response.json();
    $("#rooms").textContent = rooms.map((r) => `#${r.room} (${r.members})`).join("  ");
  } catch (error) {
    $("#rooms").textContent = "";
  }
}

$("#join").addEventListener("submit", (e) => {
  e.preventDefault();
  join($("#name").value.trim(), $("#room").value.trim());
});

$("#send").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("#text").value;
  if (socket && socket.readyState === WebSocket.OPEN && text.trim()) {
    socket.send(text);
    $("#text").value = "";
  }
});

refreshRooms();
setInterval(refreshRooms, 5000);
