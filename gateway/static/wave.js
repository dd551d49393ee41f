// The scrolling waveform: the last few seconds of what the worklet played.
//
// The worklet reports one peak per 10 ms of output, so the picture follows the
// speaker, not the network: audio still in the jitter buffer is not drawn yet.

const PEAKS_PER_SECOND = 100;

export class Waveform {
  constructor(canvas, seconds = 4) {
    this.canvas = canvas;
    this.columns = seconds * PEAKS_PER_SECOND;
    this.peaks = [];
    this.loudest = 0;
  }

  push(peaks) {
    for (const peak of peaks) {
      this.peaks.push(peak);
      if (peak > this.loudest) this.loudest = peak;
    }
    if (this.peaks.length > this.columns) this.peaks.splice(0, this.peaks.length - this.columns);
    this.draw();
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.round(canvas.clientWidth * ratio);
    const height = Math.round(canvas.clientHeight * ratio);
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const g = canvas.getContext("2d");
    const style = getComputedStyle(canvas);
    g.clearRect(0, 0, width, height);
    g.fillStyle = style.getPropertyValue("--wave-axis");
    g.fillRect(0, Math.floor(height / 2), width, Math.max(1, ratio));
    g.fillStyle = style.getPropertyValue("--wave");
    const step = width / this.columns;
    const offset = this.columns - this.peaks.length; // newest at the right edge
    for (let i = 0; i < this.peaks.length; i++) {
      const level = Math.min(1, Math.sqrt(this.peaks[i]) * 0.95); // sqrt: quiet speech shows
      const bar = Math.max(ratio, level * (height - 4 * ratio));
      g.fillRect((offset + i) * step, (height - bar) / 2, Math.max(1, step - ratio * 0.5), bar);
    }
  }
}
