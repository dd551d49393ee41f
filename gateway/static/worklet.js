// voxgate demo player: an AudioWorkletProcessor that turns the gateway's
// frames (µ-law bytes or 16-bit little-endian PCM) into continuous audio.
//
// It owns decoding, the jitter buffer and resampling, so the main thread only
// forwards WebSocket messages. Audio starts once a small prebuffer has arrived
// (or the server said the request is flushed), and an underrun fades out and
// back in instead of jumping, so there are no clicks between frames or
// sentences. Every ~50 ms it reports what it decoded, played and buffered, plus
// 10 ms peaks of the output for the page's waveform.

const MULAW = (() => {
  // ITU-T G.711 µ-law expansion, scaled to [-1, 1).
  const table = new Float32Array(256);
  for (let i = 0; i < 256; i++) {
    const u = ~i & 0xff;
    const exponent = (u >> 4) & 0x07;
    const magnitude = ((((u & 0x0f) << 3) + 0x84) << exponent) - 0x84;
    table[i] = (u & 0x80 ? -magnitude : magnitude) / 32768;
  }
  return table;
})();

const CAPACITY = 1 << 20; // stream samples: 43 s at 24 kHz, far beyond the server's lead
const MASK = CAPACITY - 1;
const FADE_S = 0.004;

class VoxgatePlayer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = options.processorOptions || {};
    this.buffer = new Float32Array(CAPACITY);
    this.configure(opts.encoding || "mulaw", opts.rate || sampleRate, opts.prebufferMs || 60);
    this.epoch = 0;
    this.decoded = 0; // frames decoded over this node's life
    this.underruns = 0;
    this.overflows = 0;
    this.last = 0; // last output sample, for the fade-out tail
    this.gain = 1;
    this.decay = Math.exp(-1 / (FADE_S * sampleRate));
    this.rise = 1 / (FADE_S * sampleRate);
    this.peakEvery = Math.max(1, Math.round(sampleRate / 100));
    this.peak = 0;
    this.peakCount = 0;
    this.peaks = [];
    this.reportEvery = Math.round(sampleRate / 20);
    this.sinceReport = 0;
    this.reset(0);
    this.port.onmessage = (event) => this.onMessage(event.data);
  }

  configure(encoding, rate, prebufferMs) {
    this.encoding = encoding;
    this.rate = rate;
    this.step = rate / sampleRate; // stream samples per output sample
    this.prebuffer = Math.round((rate * prebufferMs) / 1000);
  }

  reset(epoch) {
    // Keep `last`: the tail decays from wherever playback was cut.
    this.epoch = epoch;
    this.head = 0; // stream samples written
    this.pos = 0; // fractional read position, in stream samples
    this.playing = false;
    this.ending = false;
    this.drainedSent = false;
  }

  onMessage(msg) {
    switch (msg.type) {
      case "frame":
        this.write(msg.data);
        break;
      case "end":
        this.ending = true;
        break;
      case "reset":
        this.reset(msg.epoch);
        break;
      case "config":
        this.configure(msg.encoding, msg.rate, msg.prebufferMs);
        break;
    }
  }

  write(data) {
    const bytes = new Uint8Array(data);
    let samples;
    if (this.encoding === "pcm16") {
      samples = new Float32Array(bytes.length >> 1);
      const view = new DataView(data);
      for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(2 * i, true) / 32768;
    } else {
      samples = new Float32Array(bytes.length);
      for (let i = 0; i < bytes.length; i++) samples[i] = MULAW[bytes[i]];
    }
    if (this.head + samples.length - this.pos > CAPACITY) {
      this.overflows++;
      return;
    }
    for (let i = 0; i < samples.length; i++) this.buffer[(this.head + i) & MASK] = samples[i];
    this.head += samples.length;
    this.decoded++;
    this.drainedSent = false;
  }

  buffered() {
    return Math.max(0, this.head - this.pos);
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    if (!this.playing && this.head - this.pos >= Math.max(1, this.ending ? 1 : this.prebuffer)) {
      this.playing = true;
    }
    for (let i = 0; i < out.length; i++) {
      let sample;
      const index = Math.floor(this.pos);
      if (this.playing && index < this.head) {
        const frac = this.pos - index;
        const a = this.buffer[index & MASK];
        const b = index + 1 < this.head ? this.buffer[(index + 1) & MASK] : a;
        sample = (a + (b - a) * frac) * this.gain;
        this.gain = Math.min(1, this.gain + this.rise);
        this.pos += this.step;
      } else {
        if (this.playing) {
          this.playing = false;
          if (!this.ending) this.underruns++;
          this.pos = Math.min(this.pos, this.head);
        }
        // Let the last value die away over a few ms rather than dropping to zero.
        this.last *= this.decay;
        sample = this.last;
        this.gain = 0;
      }
      out[i] = sample;
      this.last = sample;
      this.trackPeak(sample);
    }
    this.sinceReport += out.length;
    const drained = this.ending && !this.drainedSent && this.head > 0 && this.pos >= this.head;
    if (drained) this.drainedSent = true;
    if (this.sinceReport >= this.reportEvery || drained) this.report(drained);
    return true;
  }

  trackPeak(sample) {
    const level = Math.abs(sample);
    if (level > this.peak) this.peak = level;
    if (++this.peakCount >= this.peakEvery) {
      this.peaks.push(this.peak);
      this.peak = 0;
      this.peakCount = 0;
    }
  }

  report(drained) {
    const peaks = Float32Array.from(this.peaks);
    this.port.postMessage(
      {
        type: "stats",
        epoch: this.epoch,
        decoded: this.decoded,
        played: Math.min(Math.floor(this.pos), this.head),
        buffered: this.buffered(),
        rate: this.rate,
        underruns: this.underruns,
        overflows: this.overflows,
        playing: this.playing,
        drained,
        peaks,
      },
      [peaks.buffer],
    );
    this.peaks = [];
    this.sinceReport = 0;
  }
}

registerProcessor("voxgate-player", VoxgatePlayer);
