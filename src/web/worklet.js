// vinyl-web's player: an AudioWorklet processor with a small jitter buffer.
//
// The page posts {frame, data}: the timeline number of the first frame and interleaved Float32
// samples. Playback starts (and restarts after an underrun) once `target` frames are buffered. The
// buffer is kept small two ways: every half second, when even its lowest level in that time stayed
// above `low` frames (the output clock runs slower than the capture's, or a burst arrived), the
// oldest frames are dropped down to that margin; and when more than `max` frames are buffered at
// once (the tab was throttled), the oldest are dropped down to `target` at once. So the player skips
// to live instead of building a backlog.
// Every ~100 ms it posts {frame, at, buffered, played, dropped, underruns}: `frame` is the timeline
// number of the first frame it handed to the output in the render quantum at audio time `at`.
class VinylPlayer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions || {};
    this.channels = o.channels || 2;
    this.target = o.target || 2400;
    this.max = o.max || 7200;
    this.low = o.low || 960;
    this.minSeen = Infinity;
    this.windowStart = 0;
    this.queue = [];
    this.buffered = 0;
    this.playing = false;
    this.played = 0;
    this.dropped = 0;
    this.underruns = 0;
    this.lastFrame = -1;
    this.lastAt = 0;
    this.reported = 0;
    this.port.onmessage = (e) => {
      const m = e.data;
      if (m.data) {
        this.queue.push({ frame: m.frame, data: m.data, off: 0 });
        this.buffered += m.data.length / this.channels;
      }
    };
  }

  drop(frames) {
    while (frames > 0 && this.queue.length) {
      const c = this.queue[0];
      const left = c.data.length / this.channels - c.off;
      const n = Math.min(left, frames);
      c.off += n;
      frames -= n;
      this.buffered -= n;
      this.dropped += n;
      if (c.off * this.channels >= c.data.length) this.queue.shift();
    }
  }

  process(inputs, outputs) {
    const out = outputs[0];
    const n = out[0].length;
    const ch = this.channels;
    if (this.buffered > this.max) this.drop(this.buffered - this.target);
    if (!this.playing && this.buffered >= this.target) this.playing = true;
    let i = 0;
    if (this.playing) {
      let first = -1;
      while (i < n && this.queue.length) {
        const c = this.queue[0];
        const frames = c.data.length / ch;
        const take = Math.min(n - i, frames - c.off);
        if (first < 0) first = c.frame + c.off;
        for (let o = 0; o < out.length; o++) {
          const src = Math.min(o, ch - 1);
          const dst = out[o];
          for (let k = 0; k < take; k++) dst[i + k] = c.data[(c.off + k) * ch + src];
        }
        c.off += take;
        i += take;
        this.buffered -= take;
        if (c.off >= frames) this.queue.shift();
      }
      if (first >= 0) {
        this.lastFrame = first;
        this.lastAt = currentTime;
      }
      if (i < n) {
        this.underruns++;
        this.playing = false;
      }
      this.played += i;
    }
    for (let o = 0; o < out.length; o++) out[o].fill(0, i);
    if (this.playing) this.minSeen = Math.min(this.minSeen, this.buffered);
    if (currentTime - this.windowStart >= 0.5) {
      if (this.playing && this.minSeen > this.low + 240) this.drop(this.minSeen - this.low);
      this.minSeen = Infinity;
      this.windowStart = currentTime;
    }
    if (currentTime - this.reported >= 0.1) {
      this.reported = currentTime;
      this.port.postMessage({
        frame: this.lastFrame, at: this.lastAt, buffered: this.buffered, played: this.played,
        dropped: this.dropped, underruns: this.underruns, time: currentTime,
      });
    }
    return true;
  }
}

registerProcessor('vinyl-player', VinylPlayer);
