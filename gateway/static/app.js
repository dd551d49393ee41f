// voxgate demo page: drives one /v1/speak WebSocket and plays what comes back.
//
// The socket is kept open between requests (same voice, language and quality)
// so later requests skip the connection set-up, as a real application would.
// Audio frames go straight to the AudioWorklet in worklet.js; this file only
// keeps the figures, the sentence list and the waveform up to date. Every live
// figure is also published on `window.voxgateStats` for automated tests.

import { SentenceList } from "./sentences.js";
import { Waveform } from "./wave.js";

const QUALITIES = {
  telephone: { encoding: "mulaw", rate: 8000, label: "µ-law · 8 kHz" },
  wide16: { encoding: "pcm16", rate: 16000, label: "PCM16 · 16 kHz" },
  wide24: { encoding: "pcm16", rate: 24000, label: "PCM16 · 24 kHz" },
};
const LEAD_MS = 200; // how far ahead of real time the gateway may send
const PREBUFFER_MS = 60; // the worklet's jitter buffer before playback starts
const TOKENS_PER_SECOND = 30; // "Stream like an LLM"
const STOP_CONFIRM_MS = 5000; // how long Stop waits for the gateway's `cleared`
const KEY_STORAGE = "voxgate.apiKey";
const QUALITY_STORAGE = "voxgate.quality";
const WORKLET_URL = new URL("./worklet.js", import.meta.url);

const $ = (id) => document.getElementById(id);
const ui = {
  text: $("text"),
  voice: $("voice"),
  language: $("language"),
  speak: $("speak"),
  stream: $("stream"),
  stop: $("stop"),
  status: $("status"),
  error: $("error"),
  ttfa: $("ttfa"),
  frames: $("frames"),
  buffered: $("buffered"),
  underruns: $("underruns"),
  wave: $("wave"),
  sentences: $("sentences"),
  empty: $("empty"),
  heard: $("heard"),
  format: $("format"),
  session: $("session"),
  key: $("api-key"),
  keyForm: $("key-form"),
  settings: $("settings"),
};

const stats = {
  framesReceived: 0, // over the page's life
  framesDecoded: 0, // reported by the worklet, over the page's life
  framesDiscarded: 0, // frames that arrived after Stop, before `cleared`
  requestFrames: 0,
  frameBytes: 0, // size of the last frame received
  loudestPeak: 0, // loudest output sample the worklet has played
  samplesPlayed: 0,
  bufferedMs: 0,
  underruns: 0,
  ttfaMs: null,
  outputRate: null, // the AudioContext's rate; differs from the stream's when resampling
  requests: 0,
  charsSent: 0,
  sentences: [],
  cleared: 0,
  heard: null,
  errors: [],
  events: [], // types of the last server events, oldest first
  state: "idle",
};
window.voxgateStats = stats;

let voiceInfo = []; // from /v1/voices
let conn = null; // { ws, url, ready: Promise, settings }
let player = null; // { ctx, node, rate, decodedBase }
let decodedBefore = 0; // frames decoded by players that were replaced
let request = null; // the request being spoken
let epoch = 0; // bumps on every request and Stop; stale worklet reports are ignored
let discarding = false; // frames before `cleared` belong to a stopped request
let streamTimer = null;
const sentences = new SentenceList(ui.sentences, ui.empty);
const wave = new Waveform(ui.wave, 4);

// -- small helpers -----------------------------------------------------------

function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

function quality() {
  const checked = document.querySelector('input[name="quality"]:checked');
  return QUALITIES[checked ? checked.value : "telephone"];
}

function showError(message) {
  ui.error.textContent = message || "";
  ui.error.hidden = !message;
}

function setState(state) {
  stats.state = state;
  ui.status.textContent = state;
  ui.status.dataset.state = state;
  ui.stop.disabled = !(state === "speaking" || state === "streaming");
}

// -- voices ------------------------------------------------------------------

async function loadVoices() {
  const key = apiKey();
  let response;
  try {
    response = await fetch("v1/voices", {
      headers: key ? { Authorization: `Bearer ${key}` } : {},
    });
  } catch (err) {
    showError(`Cannot reach the gateway: ${err.message}`);
    return;
  }
  if (response.status === 401) {
    voiceInfo = [];
    fillVoices(null);
    ui.settings.open = true;
    showError(
      key
        ? "The gateway refused this API key. Check it under Gateway access."
        : "This gateway needs an API key. Enter it under Gateway access.",
    );
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    showError(`Cannot list voices: ${body.message || `HTTP ${response.status}`}`);
    return;
  }
  voiceInfo = body.voices || [];
  fillVoices(body.default);
  showError(null);
}

function fillVoices(preferred) {
  ui.voice.replaceChildren();
  for (const voice of voiceInfo) {
    const option = new Option(voice.name, voice.name);
    if (voice.description) option.title = voice.description;
    ui.voice.append(option);
  }
  if (!voiceInfo.length) ui.voice.append(new Option("unavailable", ""));
  if (preferred) ui.voice.value = preferred;
  fillLanguages();
}

function fillLanguages() {
  const voice = voiceInfo.find((v) => v.name === ui.voice.value);
  ui.language.replaceChildren();
  for (const language of voice ? voice.languages : []) {
    ui.language.append(new Option(language, language));
  }
  if (voice && voice.default_language) ui.language.value = voice.default_language;
}

// -- audio -------------------------------------------------------------------

async function ensurePlayer(q) {
  if (player && player.rate === q.rate) {
    player.node.port.postMessage({
      type: "config", encoding: q.encoding, rate: q.rate, prebufferMs: PREBUFFER_MS,
    });
  } else {
    if (player) {
      decodedBefore += player.decoded;
      player.ctx.close();
    }
    let ctx;
    try {
      // Playing at the stream's own rate lets the browser do the resampling.
      ctx = new AudioContext({ sampleRate: q.rate, latencyHint: "interactive" });
    } catch {
      ctx = new AudioContext({ latencyHint: "interactive" }); // the worklet resamples
    }
    await ctx.audioWorklet.addModule(WORKLET_URL);
    const node = new AudioWorkletNode(ctx, "voxgate-player", {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: { encoding: q.encoding, rate: q.rate, prebufferMs: PREBUFFER_MS },
    });
    node.connect(ctx.destination);
    player = { ctx, node, rate: q.rate, decoded: 0 };
    stats.outputRate = ctx.sampleRate;
    node.port.onmessage = (event) => onWorkletMessage(player, event.data);
  }
  if (player.ctx.state !== "running") await player.ctx.resume();
  return player;
}

function onWorkletMessage(owner, msg) {
  if (msg.type !== "stats" || owner !== player) return;
  owner.decoded = msg.decoded;
  stats.framesDecoded = decodedBefore + msg.decoded;
  stats.underruns = msg.underruns;
  wave.push(msg.peaks);
  stats.loudestPeak = wave.loudest;
  if (msg.epoch !== epoch) return;
  stats.samplesPlayed = msg.played;
  stats.bufferedMs = (msg.buffered / msg.rate) * 1000;
  ui.buffered.textContent = Math.round(stats.bufferedMs);
  ui.underruns.textContent = msg.underruns;
  if (request) sentences.highlight(msg.played);
  if (msg.drained && request && request.flushed && !streamTimer) finishRequest();
}

// -- the socket --------------------------------------------------------------

function speakUrl() {
  const q = quality();
  const params = new URLSearchParams({
    encoding: q.encoding,
    sample_rate: String(q.rate),
    format: "binary",
    lead_ms: String(LEAD_MS),
  });
  if (ui.voice.value) params.set("voice", ui.voice.value);
  if (ui.language.value) params.set("language", ui.language.value);
  const url = new URL("v1/speak", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.search = params.toString();
  return url.toString();
}

// The API key travels as a WebSocket subprotocol, never in the URL (which ends up in
// access logs and browser history): "voxgate.key.<base64url of the key>".
function subprotocols() {
  const key = apiKey();
  if (!key) return ["voxgate"];
  const bytes = new TextEncoder().encode(key);
  const b64 = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_");
  return ["voxgate", "voxgate.key." + b64.replace(/=+$/, "")];
}

function connect() {
  const url = speakUrl();
  const protocols = subprotocols();
  const id = url + " " + protocols.join(",");
  if (conn && conn.id === id && conn.ws.readyState <= WebSocket.OPEN) return conn.ready;
  dropConnection();
  setState("connecting");
  const ws = new WebSocket(url, protocols);
  ws.binaryType = "arraybuffer";
  const current = { ws, id, settings: null, lastError: null };
  conn = current;
  current.ready = new Promise((resolve, reject) => {
    current.resolve = resolve;
    current.reject = reject;
  });
  ws.onmessage = (event) => onSocketMessage(current, event.data);
  ws.onclose = (event) => onSocketClose(current, event);
  return current.ready;
}

function dropConnection() {
  if (!conn) return;
  const old = conn;
  conn = null; // its close event is ours, not news
  old.ws.close(1000);
  ui.session.textContent = "not connected";
}

function send(message) {
  conn.ws.send(JSON.stringify(message));
}

function onSocketMessage(owner, data) {
  if (owner !== conn) return;
  if (data instanceof ArrayBuffer) {
    onFrame(data);
    return;
  }
  const event = JSON.parse(data);
  stats.events.push(event.type);
  if (stats.events.length > 40) stats.events.shift();
  switch (event.type) {
    case "ready":
      owner.settings = event.settings;
      ui.session.textContent = `session ${event.session} · ${event.engine} · ${event.settings.voice}`;
      owner.resolve(event);
      break;
    case "sentence":
      if (!discarding && request) {
        // The sentence starts after every sample already received for this request.
        sentences.add(event.index, event.text, request.samples);
        stats.sentences.push(event.text);
      }
      break;
    case "sentence_end":
      if (!discarding && request) sentences.end(event);
      break;
    case "flushed":
      if (!discarding && request) {
        request.flushed = true;
        player.node.port.postMessage({ type: "end" });
      }
      break;
    case "cleared":
      onCleared(event);
      break;
    case "error":
      onServerError(owner, event);
      break;
    default:
      break; // mark, done
  }
}

function onFrame(data) {
  if (discarding || !request) {
    stats.framesDiscarded++;
    return;
  }
  if (stats.ttfaMs === null) {
    stats.ttfaMs = performance.now() - request.firstTextAt;
    ui.ttfa.textContent = Math.round(stats.ttfaMs);
  }
  stats.framesReceived++;
  stats.requestFrames++;
  stats.frameBytes = data.byteLength;
  request.samples += request.encoding === "pcm16" ? data.byteLength / 2 : data.byteLength;
  ui.frames.textContent = stats.requestFrames;
  player.node.port.postMessage({ type: "frame", data }, [data]);
}

function onServerError(owner, event) {
  owner.lastError = event;
  // An idle socket the server retires is not news: the next request reconnects.
  if (event.code === "idle_timeout" && !request) return;
  stats.errors.push(event.code);
  showError(`${event.code}: ${event.message}`);
  if (event.index !== undefined) sentences.failed(event.index);
}

function onSocketClose(owner, event) {
  if (owner !== conn) return;
  conn = null;
  ui.session.textContent = "not connected";
  const err = owner.lastError;
  if (!owner.settings) {
    const why = err
      ? `${err.code}: ${err.message}`
      : "the gateway refused the connection" +
        (apiKey() ? " (is the API key right?)" : " (does it need an API key?)");
    stats.errors.push(err ? err.code : "connect_failed");
    showError(`Could not start speaking: ${why}`);
    owner.reject(new Error(why));
  } else if (request && event.code !== 1000) {
    stats.errors.push("connection_lost");
    showError(`The connection closed while speaking (code ${event.code}).`);
  }
  if (request) abandonRequest();
  else setState("idle");
}

// -- requests ----------------------------------------------------------------

async function startRequest(streaming) {
  const text = ui.text.value;
  if (!text.trim()) {
    showError("Type something to speak first.");
    return;
  }
  showError(null);
  stopStream();
  try {
    await ensurePlayer(quality());
    await connect();
  } catch {
    return; // the reason is on screen already
  }
  if (request) {
    // Speaking over ourselves: barge in on the old request first.
    send({ type: "clear" });
    discarding = true;
  }
  epoch++;
  player.node.port.postMessage({ type: "reset", epoch });
  request = {
    encoding: conn.settings.encoding,
    firstTextAt: null,
    samples: 0,
    flushed: false,
    stopped: false,
  };
  stats.requests++;
  stats.ttfaMs = null;
  stats.requestFrames = 0;
  stats.samplesPlayed = 0;
  stats.sentences = [];
  ui.ttfa.textContent = "…";
  ui.frames.textContent = "0";
  ui.heard.hidden = true;
  sentences.reset();
  ui.format.textContent = quality().label;
  if (streaming) streamText(text);
  else {
    sendText(text);
    send({ type: "flush" });
    setState("speaking");
  }
}

function sendText(text) {
  if (request.firstTextAt === null) request.firstTextAt = performance.now();
  stats.charsSent += text.length;
  send({ type: "text", text });
}

function tokens(text) {
  // Roughly how an LLM streams: word pieces of up to ~4 characters, spaces kept.
  const out = [];
  for (const word of text.match(/\s*\S+|\s+$/g) || []) {
    if (word.length <= 6) out.push(word);
    else for (let i = 0; i < word.length; i += 4) out.push(word.slice(i, i + 4));
  }
  return out;
}

function streamText(text) {
  const pieces = tokens(text);
  const started = performance.now();
  let sent = 0;
  setState("streaming");
  const tick = () => {
    // Catch up on the schedule so timer jitter does not slow the token rate.
    const elapsed = (performance.now() - started) / 1000;
    const due = Math.min(pieces.length, Math.floor(elapsed * TOKENS_PER_SECOND) + 1);
    while (sent < due) sendText(pieces[sent++]);
    if (sent < pieces.length) {
      streamTimer = setTimeout(tick, 1000 / TOKENS_PER_SECOND);
    } else {
      streamTimer = null;
      send({ type: "flush" });
      setState("speaking");
    }
  };
  tick();
}

function stopStream() {
  if (streamTimer) clearTimeout(streamTimer);
  streamTimer = null;
}

function stop() {
  if (!request || !conn) return;
  stopStream();
  send({ type: "clear" });
  discarding = true;
  request.stopped = true;
  epoch++;
  player.node.port.postMessage({ type: "reset", epoch });
  stats.bufferedMs = 0;
  ui.buffered.textContent = "0";
  setState("stopping");
  const stopped = request;
  setTimeout(() => {
    // A gateway that never confirms would leave the page stuck: start afresh instead.
    if (request !== stopped || !discarding || !conn) return;
    stats.errors.push("clear_timeout");
    showError("The gateway did not confirm Stop; the connection was reset.");
    dropConnection();
    abandonRequest();
  }, STOP_CONFIRM_MS);
}

function onCleared(event) {
  discarding = false;
  stats.cleared++;
  if (!request || !request.stopped) return; // a restart's clear: nothing to report
  stats.heard = event.heard;
  ui.heard.hidden = false;
  ui.heard.replaceChildren();
  const label = document.createElement("strong");
  label.textContent = "Stopped. The listener heard: ";
  const said = document.createElement("span");
  said.textContent = event.heard ? `“${event.heard}”` : "nothing yet";
  ui.heard.append(label, said);
  sentences.cut();
  request = null;
  setState("stopped");
}

function finishRequest() {
  sentences.finish();
  request = null;
  setState("idle");
}

function abandonRequest() {
  stopStream();
  request = null;
  discarding = false;
  setState("idle");
}

// -- wiring ------------------------------------------------------------------

function saveKey(event) {
  event.preventDefault();
  const key = ui.key.value.trim();
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
  dropConnection();
  loadVoices();
}

function init() {
  ui.key.value = apiKey();
  const savedQuality = localStorage.getItem(QUALITY_STORAGE);
  const radio = savedQuality && document.querySelector(`input[name="quality"][value="${savedQuality}"]`);
  if (radio) radio.checked = true;
  ui.format.textContent = quality().label;
  for (const input of document.querySelectorAll('input[name="quality"]')) {
    input.addEventListener("change", () => {
      localStorage.setItem(QUALITY_STORAGE, input.value);
      ui.format.textContent = quality().label;
    });
  }
  ui.voice.addEventListener("change", fillLanguages);
  ui.speak.addEventListener("click", () => startRequest(false));
  ui.stream.addEventListener("click", () => startRequest(true));
  ui.stop.addEventListener("click", stop);
  ui.keyForm.addEventListener("submit", saveKey);
  window.addEventListener("resize", () => wave.draw());
  setState("idle");
  wave.draw();
  loadVoices();
}

init();
