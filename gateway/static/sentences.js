// The list of sentences of the current request, highlighted as they play.
//
// The gateway announces a sentence (`sentence`) just before its first frame,
// so the sentence starts at the number of samples received until then; the
// worklet's played position then says which sentence the listener hears now.

export function formatMs(ms) {
  return ms >= 10000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

export class SentenceList {
  constructor(list, placeholder) {
    this.list = list;
    this.placeholder = placeholder;
    this.entries = [];
  }

  reset() {
    this.entries = [];
    this.list.replaceChildren();
    this.placeholder.hidden = true;
  }

  add(index, text, startSample) {
    const item = document.createElement("li");
    item.dataset.index = index;
    const body = document.createElement("span");
    body.className = "sentence-text";
    body.textContent = text;
    const meta = document.createElement("span");
    meta.className = "sentence-meta";
    item.append(body, meta);
    this.list.append(item);
    this.entries.push({ index, start: startSample, item });
  }

  find(index) {
    const entry = this.entries.find((e) => e.index === index);
    return entry ? entry.item : null;
  }

  end(event) {
    const item = this.find(event.index);
    if (!item) return;
    const audio = `${formatMs(event.audio_ms)} of audio`;
    const rtf = event.audio_ms > 0 ? (event.synth_ms / event.audio_ms).toFixed(2) : "–";
    item.querySelector(".sentence-meta").textContent =
      event.synth_ms < 1
        ? `${audio} · from the cache`
        : `${audio} · synthesized in ${formatMs(event.synth_ms)} (${rtf}× real time)`;
  }

  failed(index) {
    const item = this.find(index);
    if (item) item.classList.add("failed");
  }

  highlight(played) {
    const entries = this.entries;
    for (let i = 0; i < entries.length; i++) {
      const end = i + 1 < entries.length ? entries[i + 1].start : Infinity;
      const item = entries[i].item;
      item.classList.toggle("playing", played > 0 && played >= entries[i].start && played < end);
      item.classList.toggle("done", played >= end);
    }
  }

  finish() {
    for (const { item } of this.entries) {
      item.classList.remove("playing");
      item.classList.add("done");
    }
  }

  cut() {
    for (const { item } of this.entries) {
      if (item.classList.contains("done")) continue;
      item.classList.remove("playing");
      item.classList.add("cut");
    }
  }
}
