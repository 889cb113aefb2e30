"""The demo YOLO-CIANNA network in PyTorch with CIANNA's inference semantics
(shared/reference/cianna-format.md §6, §7), and its export to CIANNA's binary save format.

Semantics reproduced exactly, so that the C engine runs the exported file unchanged:
  * conv: plain cross-correlation, zero padding; bias = bias_weight * bias_value (layer 1 uses
    the input bias); stored here as an ordinary torch bias, exported as bias / bias_value;
  * RELU_S800.00_L0.05: leak 0.05 below 0, saturation 800 with leak 0.05 above;
  * group norm: gamma/beta per group, biased variance per image and group, eps 0.001, no
    activation (the CPU build never applies a norm layer's activation);
  * YOLO head: sigmoid(x) = 1/(1+exp(clip(-slope*x, fmin, fmax))) for position, probability and
    objectness; clip(slope*x, fmin, fmax) for size and parameters; z position 0.5 and z size 0
    (fit_dim 2); decode min/max = (g + a)*cs -/+ 0.5*prior*exp(a_size).
"""
import struct
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from make_sdc1_random import s40  # noqa: E402  (CIANNA's 40-byte string fields)

RELU = "RELU_S800.00_L0.05"
INPUT_BIAS = 0.1
BIAS_VALUE = 0.1   # stored bias_value of the RELU convs
YOLO_BIAS = 0.5    # CIANNA's default bias_value of a YOLO layer
NB_BOX, NB_CLASS, NB_PARAM, FIT_DIM = 2, 0, 5, 2
NCOL = 8 + NB_CLASS + NB_PARAM
PRIORS = [5.0, 12.0]          # W = H prior per box, pixels
CELL = 4                      # two stride-2 convs
# rows: position, size, probability, objectness, classes, params; cols: slope, fmax, fmin
SLOPES = [(0.5, 6.0, -6.0), (0.5, 1.2, -1.2), (0.5, 6.0, -6.0), (0.5, 6.0, -6.0),
          (1.0, 6.0, -6.0), (0.5, 1.5, -0.2)]
# (filters, kernel, stride, pad) of the convs before the norm; then 1x1 RELU, then YOLO
CONVS = [(16, 5, 1, 2), (24, 2, 2, 0), (24, 3, 1, 1), (48, 2, 2, 0), (48, 3, 1, 1),
         (96, 3, 1, 1), (128, 3, 1, 1)]
GN_GROUP = 4
HEAD = 192


def relu_s(x, sat=800.0, leak=0.05):
    return torch.where(x <= 0, leak * x, torch.where(x > sat, sat + (x - sat) * leak, x))


def clip_sig(x, slope, fmax, fmin):
    return 1.0 / (1.0 + torch.exp(torch.clamp(-slope * x, fmin, fmax)))


class GroupNormC(nn.Module):
    """CIANNA group norm: group_size channels per group, gamma/beta per group, eps 0.001."""

    def __init__(self, channels, group_size):
        super().__init__()
        assert channels % group_size == 0
        self.g = channels // group_size
        self.gamma = nn.Parameter(torch.ones(self.g))
        self.beta = nn.Parameter(torch.zeros(self.g))

    def forward(self, x):
        b, c, h, w = x.shape
        v = x.reshape(b, self.g, -1)
        mean = v.mean(dim=2, keepdim=True)
        var = ((v - mean) ** 2).mean(dim=2, keepdim=True)
        v = (v - mean) / torch.sqrt(var + 0.001)
        v = v * self.gamma.view(1, -1, 1) + self.beta.view(1, -1, 1)
        return v.reshape(b, c, h, w)


class DemoNet(nn.Module):
    def __init__(self):
        super().__init__()
        layers, c = [], 1
        for nf, k, s, p in CONVS:
            layers.append(nn.Conv2d(c, nf, k, s, p))
            c = nf
        self.convs = nn.ModuleList(layers)
        self.norm = GroupNormC(c, GN_GROUP)
        self.head = nn.Conv2d(c, HEAD, 1)
        self.yolo = nn.Conv2d(HEAD, NB_BOX * NCOL, 1)

    def raw(self, x):
        for conv in self.convs:
            x = relu_s(conv(x))
        x = self.norm(x)
        x = relu_s(self.head(x))
        return self.yolo(x)

    @staticmethod
    def activate(z):
        """CIANNA's YOLO activation; z is (B, NB_BOX*NCOL, G, G)."""
        b, _, gh, gw = z.shape
        z = z.view(b, NB_BOX, NCOL, gh, gw)
        out = []
        for k in range(NCOL):
            x = z[:, :, k]
            if k < 3:
                a = clip_sig(x, *SLOPES[0]) if FIT_DIM > k else torch.full_like(x, 0.5)
            elif k < 6:
                a = (torch.clamp(SLOPES[1][0] * x, SLOPES[1][2], SLOPES[1][1])
                     if FIT_DIM > k - 3 else torch.zeros_like(x))
            elif k == 6:
                a = clip_sig(x, *SLOPES[2])
            elif k == 7:
                a = clip_sig(x, *SLOPES[3])
            elif k < 8 + NB_CLASS:
                a = clip_sig(x, *SLOPES[4])
            else:
                a = torch.clamp(SLOPES[5][0] * x, SLOPES[5][2], SLOPES[5][1])
            out.append(a)
        return torch.stack(out, dim=2)  # (B, NB_BOX, NCOL, G, G)

    def forward(self, x):
        return self.activate(self.raw(x))

    @staticmethod
    def decode(a, in_w, in_h):
        """CIANNA's decode (raw_output=0) of activated a (B, NB_BOX, NCOL, Gh, Gw) into the
        [filter][y][x] layout of the forward file, float32."""
        b, nb, ncol, gh, gw = a.shape
        cs = [float(in_w // gw), float(in_h // gh), 1.0]
        gx = torch.arange(gw, dtype=a.dtype).view(1, 1, 1, gw)
        gy = torch.arange(gh, dtype=a.dtype).view(1, 1, gh, 1)
        g = [gx, gy, torch.zeros(1, dtype=a.dtype)]
        pri = torch.tensor([[p, p, 0.0] for p in PRIORS], dtype=a.dtype)
        out = a.clone()
        for k in range(3):
            ctr = g[k] * cs[k] + a[:, :, k] * cs[k]
            half = 0.5 * pri[:, k].view(1, nb, 1, 1) * torch.exp(a[:, :, k + 3])
            out[:, :, k] = ctr - half
            out[:, :, k + 3] = ctr + half
        return out.reshape(b, nb * ncol, gh, gw)


def export_cianna(net, path, in_w, in_h):
    """Writes `net` in CIANNA's binary save format (cianna-format.md §3)."""
    sd = {k: v.detach().cpu().numpy().astype("<f4") for k, v in net.state_dict().items()}
    with open(path, "wb") as out:
        out.write(struct.pack("<4i", in_w, in_h, 1, 1))
        w, h, c = in_w, in_h, 1

        def conv(weight, bias, stride, pad, activ, bias_value, yolo=False):
            nonlocal w, h, c
            nf, cin, kh, kw = weight.shape
            assert cin == c
            out.write(b"C" + struct.pack("<17i", nf, kw, kh, 1, stride, stride, 1, pad, pad, 0,
                                         0, 0, 0, w, h, 1, c))
            out.write(struct.pack("<2f", 0.0, bias_value) + s40(activ))
            if yolo:
                out.write(struct.pack("<5i", NB_BOX, NB_CLASS, NB_PARAM, FIT_DIM, 0))
                pri = PRIORS + PRIORS + [0.0] * NB_BOX
                out.write(struct.pack("<%df" % len(pri), *pri))
                out.write(struct.pack("<18f", *[v for row in SLOPES for v in row]))
            rows = np.empty((nf, cin * kh * kw + 1), dtype="<f4")
            rows[:, :-1] = weight.reshape(nf, -1)
            rows[:, -1] = bias / np.float32(bias_value)
            out.write(rows.tobytes())
            w = (w + 2 * pad - kw) // stride + 1
            h = (h + 2 * pad - kh) // stride + 1
            c = nf

        for i, (nf, k, s, p) in enumerate(CONVS):
            conv(sd["convs.%d.weight" % i], sd["convs.%d.bias" % i], s, p, RELU,
                 INPUT_BIAS if i == 0 else BIAS_VALUE)
        out.write(b"N" + s40("GN") + struct.pack("<2i", GN_GROUP, 0) + s40("LIN"))
        out.write(sd["norm.gamma"].tobytes() + sd["norm.beta"].tobytes())
        conv(sd["head.weight"], sd["head.bias"], 1, 0, RELU, BIAS_VALUE)
        conv(sd["yolo.weight"], sd["yolo.bias"], 1, 0, "YOLO", YOLO_BIAS, yolo=True)


def n_params(net):
    return sum(p.numel() for p in net.parameters())


def write_manifest(folder, weights_name, sha256, norm, thresholds, flux_ln, size_ln, patch,
                   infer_patch, overlap, nms_first, nms_second, training_data):
    """model.ini for the demo model (docs/formats/model-manifest.md)."""
    lo, hi, gain = norm
    text = """# Demo YOLO-CIANNA model of CIANNA On-The-Fly, trained on otf-synth SDC1-like fields.
# Regenerate with `make demo-model` (tools/train/); card: MODEL_CARD.md.
[model]
description = OTF demo: compact YOLO-CIANNA network (%d convs + group norm + YOLO, %d boxes, cell %d px) for SDC1-like 560 MHz continuum images
licence = Apache-2.0
training_data = %s
weights = %s
weights_sha256 = %s
format = binary
precisions = fp32, bf16

[input]
channels = 1
train_patch = %dx%d
infer_patch = %dx%d
overlap = %d
input_bias = %g

[normalisation]
gain = %g
bounds = fixed
lo = %g
hi = %g

[yolo]
nb_box = %d
nb_class = %d
nb_param = %d
min_box = 4
max_obj = 64

[postprocess]
obj_threshold = %s
median_reject = 0, 0
nms_diou_first = %g
nms_diou_second = %g
border = keep
border_pix = 0

[param.flux]
unit = Jy
transform = ln_minmax
min = %.9g
max = %.9g

[param.bmaj]
unit = arcsec
transform = ln_minmax
min = %.9g
max = %.9g

[param.bmin]
unit = arcsec
transform = ln_minmax
min = %.9g
max = %.9g

[param.pa_cos]
transform = cos_pa

[param.pa_sin]
transform = sin_pa_half
""" % (len(CONVS) + 2, NB_BOX, CELL, training_data, weights_name, sha256, patch, patch,
       infer_patch, infer_patch, overlap, INPUT_BIAS, gain, lo, hi, NB_BOX, NB_CLASS, NB_PARAM,
       ", ".join("%.3f" % t for t in thresholds), nms_first, nms_second, flux_ln[0], flux_ln[1],
       size_ln[0], size_ln[1], size_ln[0], size_ln[1])
    with open(folder + "/model.ini", "w") as f:
        f.write(text)
