// Colour transforms on one CHW float image in [0, 1], in place, with torchvision's semantics
// (torchvision.transforms.functional on tensors): each op blends with a reference image and clamps.
// sharp has brightness/saturation/hue (modulate), but in LCh space, and applies its operations in a fixed
// order; SimCLR's jitter is HSV/luma based and in random order, so these are written by hand.
// Shapes: img [C, H*W] at `offset`, C = 1 or 3 (a 1-channel image has no saturation or hue to change).

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

// ITU-R 601 luma, as torchvision's rgb_to_grayscale.
const LUMA_R = 0.299;
const LUMA_G = 0.587;
const LUMA_B = 0.114;

/** x * factor, clamped (blend with black). */
export function adjustBrightness(img: Float32Array, offset: number, channels: number, plane: number, factor: number): void {
  const end = offset + channels * plane;
  for (let i = offset; i < end; i++) img[i] = clamp01(img[i] * factor);
}

/** Mean of the grey image: the reference level contrast blends with. */
export function meanGrey(img: Float32Array, offset: number, channels: number, plane: number): number {
  let sum = 0;
  if (channels === 3) {
    for (let i = offset; i < offset + plane; i++) sum += LUMA_R * img[i] + LUMA_G * img[i + plane] + LUMA_B * img[i + 2 * plane];
  } else {
    for (let i = offset; i < offset + channels * plane; i++) sum += img[i];
    sum /= channels;
  }
  return sum / plane;
}

/** (x - m) * factor + m, clamped, m = mean grey level. */
export function adjustContrast(img: Float32Array, offset: number, channels: number, plane: number, factor: number): void {
  const mean = meanGrey(img, offset, channels, plane);
  const end = offset + channels * plane;
  const bias = (1 - factor) * mean;
  for (let i = offset; i < end; i++) img[i] = clamp01(img[i] * factor + bias);
}

/** Blend each pixel with its own grey value: factor 0 is grayscale, 1 is the identity. */
export function adjustSaturation(img: Float32Array, offset: number, channels: number, plane: number, factor: number): void {
  if (channels !== 3) return;
  const g = offset + plane;
  const b = offset + 2 * plane;
  for (let i = 0; i < plane; i++) {
    const r0 = img[offset + i];
    const g0 = img[g + i];
    const b0 = img[b + i];
    const grey = (1 - factor) * (LUMA_R * r0 + LUMA_G * g0 + LUMA_B * b0);
    img[offset + i] = clamp01(r0 * factor + grey);
    img[g + i] = clamp01(g0 * factor + grey);
    img[b + i] = clamp01(b0 * factor + grey);
  }
}

/** Rotate the HSV hue by `shift` turns (in [-0.5, 0.5]); torchvision's _rgb2hsv / _hsv2rgb per pixel. */
export function adjustHue(img: Float32Array, offset: number, channels: number, plane: number, shift: number): void {
  if (channels !== 3 || shift === 0) return;
  const gOff = offset + plane;
  const bOff = offset + 2 * plane;
  for (let i = 0; i < plane; i++) {
    const r = img[offset + i];
    const g = img[gOff + i];
    const b = img[bOff + i];
    const maxc = r > g ? (r > b ? r : b) : g > b ? g : b;
    const minc = r < g ? (r < b ? r : b) : g < b ? g : b;
    const cr = maxc - minc;
    if (cr === 0) continue; // grey pixel: hue is undefined and rotating it changes nothing
    const s = cr / maxc;
    let h: number;
    if (maxc === r) h = (g - b) / cr;
    else if (maxc === g) h = 2 + (b - r) / cr;
    else h = 4 + (r - g) / cr;
    h = h / 6 + shift;
    h -= Math.floor(h); // mod 1
    // HSV -> RGB
    const h6 = h * 6;
    const sector = Math.floor(h6) % 6;
    const f = h6 - Math.floor(h6);
    const v = maxc;
    const p = clamp01(v * (1 - s));
    const q = clamp01(v * (1 - s * f));
    const t = clamp01(v * (1 - s * (1 - f)));
    let ro: number;
    let go: number;
    let bo: number;
    switch (sector) {
      case 0: ro = v; go = t; bo = p; break;
      case 1: ro = q; go = v; bo = p; break;
      case 2: ro = p; go = v; bo = t; break;
      case 3: ro = p; go = q; bo = v; break;
      case 4: ro = t; go = p; bo = v; break;
      default: ro = v; go = p; bo = q; break;
    }
    img[offset + i] = ro;
    img[gOff + i] = go;
    img[bOff + i] = bo;
  }
}

/** Every channel becomes the luma (torchvision's Grayscale(num_output_channels=3)); a no-op on 1 channel. */
export function toGrayscale(img: Float32Array, offset: number, channels: number, plane: number): void {
  if (channels !== 3) return;
  const g = offset + plane;
  const b = offset + 2 * plane;
  for (let i = 0; i < plane; i++) {
    const y = LUMA_R * img[offset + i] + LUMA_G * img[g + i] + LUMA_B * img[b + i];
    img[offset + i] = y;
    img[g + i] = y;
    img[b + i] = y;
  }
}
