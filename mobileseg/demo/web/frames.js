// Camera pixels -> the model's inputs, and the model's output -> the screen: ports of the Android app's core classes
// (android_demo/core/src/main/java/io/mobileseg/core/), with the same rules, so that the page feeds the model the
// tensor mobileseg's Python side computes for the same pixels (mobileseg.export.android.camera_frame, which the browser
// test compares with what the page made):
//
//   FrameConverter: RGBA image -> [1, 3, H, W] float32 RGB in [0, 1]: the centred crop with the model's aspect ratio
//                   (in whole pixels, rounded half up), then PyTorch's bilinear resize (align_corners=False), in float32
//                   arithmetic term for term. A browser's video frames are upright, so no rotation.
//   boxMask:        box -> first mask (mobileseg.data.boxes.box_to_mask): pixel centres inside the box.
//   ViewMapping:    view <-> model pixels (the video is shown whole, centred, scaled to fill the view).
//   Overlay:        prob -> RGBA pixels of a translucent mask, the contract's threshold.
//   FrameClock:     ms/frame (model time, mean of the last frames) and FPS (results on screen per second).

const f = Math.fround;
const LEVELS = new Float32Array(256).map((_, i) => f(i / 255));

/** {y0, x0, height, width} of the centred crop of a height x width image with the aspect ratio outH : outW. */
export function centreCrop(height, width, outH, outW) {
  let cropH = height;
  let cropW = width;
  if (width * outH > height * outW) {
    cropW = Math.floor((2 * height * outW + outH) / (2 * outH)); // round half up, in integers
  } else if (width * outH < height * outW) {
    cropH = Math.floor((2 * width * outH + outW) / (2 * outW));
  }
  return {y0: Math.floor((height - cropH) / 2), x0: Math.floor((width - cropW) / 2), height: cropH, width: cropW};
}

/** PyTorch's bilinear source indices and weights (align_corners=False), offset into the crop (FrameConverter.linear). */
function linear(size, out, offset) {
  const i0 = new Int32Array(out);
  const i1 = new Int32Array(out);
  const w0 = new Float32Array(out);
  const w1 = new Float32Array(out);
  const scale = f(size / out);
  for (let d = 0; d < out; d++) {
    let src = f(f(scale * f(d + 0.5)) - 0.5);
    if (src < 0) src = 0;
    const index = Math.min(Math.floor(src), size - 1);
    const lambda = Math.min(Math.max(f(src - index), 0), 1);
    i0[d] = offset + index;
    i1[d] = offset + (index < size - 1 ? index + 1 : index);
    w0[d] = f(1 - lambda);
    w1[d] = lambda;
  }
  return {i0, i1, w0, w1};
}

export class FrameConverter {
  /** Frames of srcWidth x srcHeight RGBA pixels (canvas ImageData) into the model's outHeight x outWidth input. */
  constructor(srcWidth, srcHeight, outHeight, outWidth) {
    if (!(srcWidth >= 1 && srcHeight >= 1 && outHeight >= 1 && outWidth >= 1)) {
      throw new Error("sizes must be positive: source " + srcWidth + "x" + srcHeight + ", model " + outHeight + "x" + outWidth);
    }
    this.srcWidth = srcWidth;
    this.srcHeight = srcHeight;
    this.outHeight = outHeight;
    this.outWidth = outWidth;
    this.crop = centreCrop(srcHeight, srcWidth, outHeight, outWidth);
    this.cols = linear(this.crop.width, outWidth, this.crop.x0);
    this.rows = linear(this.crop.height, outHeight, this.crop.y0);
  }

  matches(width, height) {
    return width === this.srcWidth && height === this.srcHeight;
  }

  /** RGBA bytes (row stride 4 * srcWidth) -> `out` (a Float32Array of 3 * H * W; a new one when not given). */
  convert(rgba, out) {
    const plane = this.outHeight * this.outWidth;
    const dst = out || new Float32Array(3 * plane);
    const stride = 4 * this.srcWidth;
    const {i0: c0, i1: c1, w0: cw0, w1: cw1} = this.cols;
    const {i0: r0s, i1: r1s, w0: rw0, w1: rw1} = this.rows;
    for (let y = 0; y < this.outHeight; y++) {
      const h0 = rw0[y];
      const h1 = rw1[y];
      const r0 = r0s[y] * stride;
      const r1 = r1s[y] * stride;
      const base = y * this.outWidth;
      for (let x = 0; x < this.outWidth; x++) {
        const w0 = cw0[x];
        const w1 = cw1[x];
        const p00 = r0 + 4 * c0[x];
        const p01 = r0 + 4 * c1[x];
        const p10 = r1 + 4 * c0[x];
        const p11 = r1 + 4 * c1[x];
        for (let c = 0; c < 3; c++) {
          const top = f(f(w0 * LEVELS[rgba[p00 + c]]) + f(w1 * LEVELS[rgba[p01 + c]]));
          const bottom = f(f(w0 * LEVELS[rgba[p10 + c]]) + f(w1 * LEVELS[rgba[p11 + c]]));
          dst[c * plane + base + x] = f(f(h0 * top) + f(h1 * bottom));
        }
      }
    }
    return dst;
  }
}

/** Box [x0, y0, x1, y1] in model pixels (end exclusive) -> [1, 1, H, W] mask: 1 where the pixel centre lies inside. */
export function boxMask(box, height, width, out) {
  const mask = out || new Float32Array(height * width);
  const [x0, y0, x1, y1] = box;
  let set = 0;
  for (let y = 0; y < height; y++) {
    const cy = y + 0.5;
    const row = cy >= y0 && cy < y1;
    for (let x = 0; x < width; x++) {
      const cx = x + 0.5;
      const inside = row && cx >= x0 && cx < x1;
      mask[y * width + x] = inside ? 1 : 0;
      if (inside) set++;
    }
  }
  return {mask, set};
}

/**
 * Where the model's input lies on the screen (ViewMapping.java): the view shows the whole video frame scaled to fill it
 * and centred; the model sees the centred crop FrameConverter cuts.
 */
export class ViewMapping {
  constructor(converter, viewWidth, viewHeight) {
    if (!(viewWidth >= 1 && viewHeight >= 1)) {
      throw new Error("the view has no size yet: " + viewWidth + "x" + viewHeight);
    }
    this.viewWidth = viewWidth;
    this.viewHeight = viewHeight;
    this.uprightWidth = converter.srcWidth;
    this.uprightHeight = converter.srcHeight;
    this.crop = converter.crop;
    this.modelHeight = converter.outHeight;
    this.modelWidth = converter.outWidth;
    this.scale = Math.max(viewWidth / this.uprightWidth, viewHeight / this.uprightHeight);
  }

  toViewX(u) {
    return (u - this.uprightWidth / 2) * this.scale + this.viewWidth / 2;
  }

  toViewY(v) {
    return (v - this.uprightHeight / 2) * this.scale + this.viewHeight / 2;
  }

  /** [x0, y0, x1, y1] in model pixels of a box dragged between two view points, ordered and clipped to the model's input. */
  viewBoxToModel(ax, ay, bx, by) {
    const a = this.viewToModel(Math.min(ax, bx), Math.min(ay, by));
    const b = this.viewToModel(Math.max(ax, bx), Math.max(ay, by));
    const clip = (value, size) => Math.max(0, Math.min(size, value));
    return [clip(a[0], this.modelWidth), clip(a[1], this.modelHeight), clip(b[0], this.modelWidth), clip(b[1], this.modelHeight)];
  }

  viewToModel(vx, vy) {
    const u = (vx - this.viewWidth / 2) / this.scale + this.uprightWidth / 2;
    const v = (vy - this.viewHeight / 2) / this.scale + this.uprightHeight / 2;
    return [(u - this.crop.x0) * this.modelWidth / this.crop.width, (v - this.crop.y0) * this.modelHeight / this.crop.height];
  }

  /** A model pixel coordinate on the view (the inverse of viewToModel). */
  modelToView(mx, my) {
    return [this.toViewX(this.crop.x0 + mx * this.crop.width / this.modelWidth), this.toViewY(this.crop.y0 + my * this.crop.height / this.modelHeight)];
  }

  /** [left, top, right, bottom] of the model's input on the view: where the overlay is drawn. */
  modelRectInView() {
    const {x0, y0, width, height} = this.crop;
    return [this.toViewX(x0), this.toViewY(y0), this.toViewX(x0 + width), this.toViewY(y0 + height)];
  }
}

/**
 * prob [1, 1, H, W] -> RGBA pixels (ImageData) of a translucent mask (Overlay.java: a pixel is on the object when its
 * probability exceeds the contract's threshold), its edge opaque so that it shows on any background; returns the share
 * of pixels on the object.
 */
export class Overlay {
  constructor(height, width) {
    this.height = height;
    this.width = width;
    this.image = new ImageData(width, height);
    this.on = new Uint8Array(height * width);
  }

  render(prob, threshold, rgba) {
    const {height, width, on} = this;
    const pixels = this.image.data;
    let count = 0;
    for (let i = 0; i < height * width; i++) {
      on[i] = prob[i] > threshold ? 1 : 0;
      count += on[i];
    }
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        const edge = on[i] && (x === 0 || y === 0 || x === width - 1 || y === height - 1
          || !on[i - 1] || !on[i + 1] || !on[i - width] || !on[i + width]);
        for (let c = 0; c < 3; c++) pixels[4 * i + c] = on[i] ? rgba[c] : 0;
        pixels[4 * i + 3] = on[i] ? (edge ? 255 : rgba[3]) : 0;
      }
    }
    return count / (height * width);
  }
}

/** On-screen speed (FrameClock.java): a ring of the last `window` frames. */
export class FrameClock {
  constructor(window) {
    if (window < 2) throw new Error("window must hold at least 2 frames, got " + window);
    this.stamps = new Float64Array(window);
    this.millis = new Float64Array(window);
    this.reset();
  }

  /** One frame reached the screen at `nowMs` (performance.now()), its model call having taken `modelMs`. */
  tick(nowMs, modelMs) {
    this.stamps[this.next] = nowMs;
    this.millis[this.next] = modelMs;
    this.next = (this.next + 1) % this.stamps.length;
    this.count = Math.min(this.count + 1, this.stamps.length);
  }

  msPerFrame() {
    if (this.count === 0) return NaN;
    let sum = 0;
    for (let i = 0; i < this.count; i++) sum += this.millis[i];
    return sum / this.count;
  }

  fps() {
    if (this.count < 2) return NaN;
    const n = this.stamps.length;
    const newest = (this.next - 1 + n) % n;
    const oldest = this.count < n ? 0 : this.next;
    const span = this.stamps[newest] - this.stamps[oldest];
    return span <= 0 ? NaN : (this.count - 1) * 1000 / span;
  }

  reset() {
    this.count = 0;
    this.next = 0;
  }
}
