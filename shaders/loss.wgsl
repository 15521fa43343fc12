// Losses, forward and backward side by side.
//   softmax_ce_forward:  p[i, :] = softmax(logits[i, :]),  loss = mean_i −Σ_j q[i, j] log p[i, j]
//   softmax_ce_backward: dlogits[i, j] = (p[i, j] − q[i, j]) · dloss / rows
//                        with q[i, j] = (1 − s)·[j == label_i] + s / cols, s = p.s0.x the label
//                        smoothing (PyTorch's CrossEntropyLoss(label_smoothing = s))
//   softmax_ce_fused:    both at once (a training step needs the loss and dlogits, not p)
//   sigmoid_bce_forward:  loss = Σ max(z, 0) − z·t + ln(1 + e^−|z|) / n   (z logits, t 0/1 targets)
//   sigmoid_bce_backward: dz = (σ(z) − t) · dloss / n
//   sigmoid_bce_fused:    both at once
//   mse_forward:         loss = Σ (pred − targets)² / n
//   mse_backward:        dpred = 2 (pred − targets) · dloss / n
//   …_weighted: the same with each example's loss counting by its weight, weights[i] (summing
//   to 1: the weighted mean Σ wᵢ·lᵢ / Σ wᵢ with the division done by whoever normalised them):
//   the loss is Σ wᵢ·lᵢ, the gradient wᵢ·∂lᵢ·dloss; for the elementwise losses an example is
//   n / examples elements (examples = p.dims.y), its loss their mean.
// rows = p.dims.x, cols = p.dims.y (mse: n = p.dims.x). Labels are class indices stored as f32;
// a label that is not a whole number in 0..cols makes the loss NaN (the host checks labels first,
// so this only guards against corruption). Softmax subtracts the row max: finite for ±1e4.

@group(0) @binding(1) var<storage, read> x: array<f32>;        // logits or predictions
@group(0) @binding(2) var<storage, read> targets: array<f32>;   // labels or targets
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;
@group(0) @binding(5) var<storage, read> probs_saved: array<f32>;
@group(0) @binding(6) var<storage, read> dloss: array<f32>;
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;
@group(0) @binding(8) var<storage, read> weights: array<f32>;   // per example, summing to 1

var<workgroup> tree: array<f32, 256>;

fn tree_sum(lid: u32, v: f32) -> f32 {
    tree[lid] = v;
    for (var stride = 128u; stride > 0u; stride /= 2u) {
        workgroupBarrier();
        if (lid < stride) {
            tree[lid] += tree[lid + stride];
        }
    }
    workgroupBarrier();
    return tree[0];
}

// The workgroup's sum of `acc` over `count` terms, as their mean, into the loss (a weighted loss's
// terms are weighted already: `count` is 1, or an example's elements).
fn store_mean(lid: u32, acc: f32, count: u32) {
    let total = tree_sum(lid, acc);
    if (lid == 0u) {
        loss[0] = total / f32(count);
    }
}

// Elements per example of a weighted elementwise loss: n / examples.
fn per_example() -> u32 {
    return max(p.dims.x / max(p.dims.y, 1u), 1u);
}

// The class a label names, or `cols` (out of range) when it is not a whole number in 0..cols.
fn class_of(label: f32, cols: u32) -> u32 {
    if (label >= 0.0 && label < f32(cols) && fract(label) == 0.0) {
        return u32(label);
    }
    return cols;
}

const NAN_BITS: u32 = 0x7fc00000u;

// The max, the sum of exp(x − max) and the sum of x − max of a row of logits starting at `base`.
fn row_stats(base: u32, cols: u32) -> vec3<f32> {
    var m = x[base];
    for (var j = 1u; j < cols; j++) {
        m = max(m, x[base + j]);
    }
    var s = 0.0;
    var t = 0.0;
    for (var j = 0u; j < cols; j++) {
        s += exp(x[base + j] - m);
        t += x[base + j] - m;
    }
    return vec3<f32>(m, s, t);
}

// −Σ_j q_j log p_j of row r from its stats: ln Σ e^(x − max) − (1 − s)·(x_label − max) −
// s·mean_j (x_j − max); NaN for a label outside the classes.
fn row_loss(r: u32, base: u32, cols: u32, stats: vec3<f32>) -> f32 {
    let label = class_of(targets[r], cols);
    let s = p.s0.x;
    if (label < cols) {
        return log(stats.y) - (1.0 - s) * (x[base + label] - stats.x) - s * stats.z / f32(cols);
    }
    return bitcast<f32>(NAN_BITS);
}

// q[label_row, j]: the smoothed target of class j, NaN for a label outside the classes.
fn smoothed_target(label: u32, j: u32, cols: u32) -> f32 {
    if (label == cols) {
        return bitcast<f32>(NAN_BITS);
    }
    let s = p.s0.x;
    return select(0.0, 1.0 - s, label == j) + s / f32(cols);
}

// Row r's softmax into probs; returns its loss. (The plain and weighted entry points share the
// rows' work; only the weighted ones name the weights, so only their pipelines bind them.)
fn forward_row(r: u32, cols: u32) -> f32 {
    let base = r * cols;
    let stats = row_stats(base, cols);
    for (var j = 0u; j < cols; j++) {
        probs[base + j] = exp(x[base + j] - stats.x) / stats.y;
    }
    return row_loss(r, base, cols, stats);
}

// Row r's dlogits, (p − q) · scale, into dx; returns its loss.
fn fused_row(r: u32, cols: u32, scale: f32) -> f32 {
    let base = r * cols;
    let stats = row_stats(base, cols);
    let label = class_of(targets[r], cols);
    for (var j = 0u; j < cols; j++) {
        dx[base + j] = (exp(x[base + j] - stats.x) / stats.y - smoothed_target(label, j, cols)) * scale;
    }
    return row_loss(r, base, cols, stats);
}

// One workgroup, a row per lane at a time: batches are thousands of rows of a few classes.
@compute @workgroup_size(256)
fn softmax_ce_forward(@builtin(local_invocation_index) lid: u32) {
    let rows = p.dims.x;
    var acc = 0.0;
    for (var r = lid; r < rows; r += 256u) {
        acc += forward_row(r, p.dims.y);
    }
    store_mean(lid, acc, rows);
}

// Forward and backward of a training step in one dispatch: the loss and dlogits, no probabilities.
@compute @workgroup_size(256)
fn softmax_ce_fused(@builtin(local_invocation_index) lid: u32) {
    let rows = p.dims.x;
    let scale = dloss[0] / f32(rows);
    var acc = 0.0;
    for (var r = lid; r < rows; r += 256u) {
        acc += fused_row(r, p.dims.y, scale);
    }
    store_mean(lid, acc, rows);
}

@compute @workgroup_size(256)
fn softmax_ce_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    let rows = p.dims.x;
    let cols = p.dims.y;
    if (i < rows * cols) {
        let label = class_of(targets[i / cols], cols);
        dx[i] = (probs_saved[i] - smoothed_target(label, i % cols, cols)) * dloss[0] / f32(rows);
    }
}

// One term of the binary cross-entropy with logits, finite for any z.
fn bce_term(z: f32, t: f32) -> f32 {
    return max(z, 0.0) - z * t + log1p(exp(vec4<f32>(-abs(z)))).x;
}

@compute @workgroup_size(256)
fn sigmoid_bce_forward(@builtin(local_invocation_index) lid: u32) {
    let n = p.dims.x;
    var acc = 0.0;
    for (var i = lid; i < n; i += 256u) {
        acc += bce_term(x[i], targets[i]);
    }
    store_mean(lid, acc, n);
}

@compute @workgroup_size(256)
fn sigmoid_bce_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    let n = p.dims.x;
    if (i < n) {
        dx[i] = (sigmoid(vec4<f32>(x[i])).x - targets[i]) * dloss[0] / f32(n);
    }
}

@compute @workgroup_size(256)
fn sigmoid_bce_fused(@builtin(local_invocation_index) lid: u32) {
    let n = p.dims.x;
    let scale = dloss[0] / f32(n);
    var acc = 0.0;
    for (var i = lid; i < n; i += 256u) {
        let z = x[i];
        acc += bce_term(z, targets[i]);
        dx[i] = (sigmoid(vec4<f32>(z)).x - targets[i]) * scale;
    }
    store_mean(lid, acc, n);
}

@compute @workgroup_size(256)
fn mse_forward(@builtin(local_invocation_index) lid: u32) {
    let n = p.dims.x;
    var acc = 0.0;
    for (var i = lid; i < n; i += 256u) {
        let d = x[i] - targets[i];
        acc += d * d;
    }
    store_mean(lid, acc, n);
}

@compute @workgroup_size(256)
fn mse_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    let n = p.dims.x;
    if (i < n) {
        dx[i] = 2.0 * (x[i] - targets[i]) * dloss[0] / f32(n);
    }
}

// The weighted twins: the same terms, each example's counting by its weight.

@compute @workgroup_size(256)
fn softmax_ce_forward_weighted(@builtin(local_invocation_index) lid: u32) {
    var acc = 0.0;
    for (var r = lid; r < p.dims.x; r += 256u) {
        acc += weights[r] * forward_row(r, p.dims.y);
    }
    store_mean(lid, acc, 1u);
}

@compute @workgroup_size(256)
fn softmax_ce_fused_weighted(@builtin(local_invocation_index) lid: u32) {
    var acc = 0.0;
    for (var r = lid; r < p.dims.x; r += 256u) {
        acc += weights[r] * fused_row(r, p.dims.y, dloss[0] * weights[r]);
    }
    store_mean(lid, acc, 1u);
}

@compute @workgroup_size(256)
fn softmax_ce_backward_weighted(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    let rows = p.dims.x;
    let cols = p.dims.y;
    if (i < rows * cols) {
        let r = i / cols;
        let label = class_of(targets[r], cols);
        dx[i] = (probs_saved[i] - smoothed_target(label, i % cols, cols)) * (dloss[0] * weights[r]);
    }
}

@compute @workgroup_size(256)
fn sigmoid_bce_forward_weighted(@builtin(local_invocation_index) lid: u32) {
    let n = p.dims.x;
    let per = per_example();
    var acc = 0.0;
    for (var i = lid; i < n; i += 256u) {
        acc += weights[i / per] * bce_term(x[i], targets[i]);
    }
    store_mean(lid, acc, per);
}

@compute @workgroup_size(256)
fn sigmoid_bce_backward_weighted(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                 @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    let n = p.dims.x;
    let per = per_example();
    if (i < n) {
        dx[i] = (sigmoid(vec4<f32>(x[i])).x - targets[i]) * (dloss[0] / f32(per) * weights[i / per]);
    }
}

@compute @workgroup_size(256)
fn sigmoid_bce_fused_weighted(@builtin(local_invocation_index) lid: u32) {
    let n = p.dims.x;
    let per = per_example();
    let scale = dloss[0] / f32(per);
    var acc = 0.0;
    for (var i = lid; i < n; i += 256u) {
        let z = x[i];
        let w = weights[i / per];
        acc += w * bce_term(z, targets[i]);
        dx[i] = (sigmoid(vec4<f32>(z)).x - targets[i]) * (scale * w);
    }
    store_mean(lid, acc, per);
}

@compute @workgroup_size(256)
fn mse_forward_weighted(@builtin(local_invocation_index) lid: u32) {
    let n = p.dims.x;
    let per = per_example();
    var acc = 0.0;
    for (var i = lid; i < n; i += 256u) {
        let d = x[i] - targets[i];
        acc += weights[i / per] * d * d;
    }
    store_mean(lid, acc, per);
}

@compute @workgroup_size(256)
fn mse_backward_weighted(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wid, nwg, lid, 256u);
    let n = p.dims.x;
    let per = per_example();
    if (i < n) {
        dx[i] = (x[i] - targets[i]) * (2.0 * dloss[0] / f32(per) * weights[i / per]);
    }
}
