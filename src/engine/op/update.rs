//! An optimizer's update rule as plain data, which the plan turns into a kernel when it lowers an
//! update node.

/// An optimizer's update of a parameter from its gradient, as plain data: the graph holds it in
/// an update node, and the plan chooses its kernel when it lowers the node. The learning rate
/// here is the base rate; a schedule may change it per step.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum UpdateRule {
    /// `w −= lr · (g + weight_decay·w)`
    Sgd { lr: f64, weight_decay: f64 },
    /// PyTorch's momentum SGD: `v = μ·v + g; w −= lr·v` (Nesterov: `w −= lr·(g + μ·v)`)
    Momentum {
        lr: f64,
        momentum: f64,
        nesterov: bool,
        weight_decay: f64,
    },
    /// Adam, or AdamW when `decoupled` (weight decay applied to the weights, not the gradient)
    Adam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
        decoupled: bool,
    },
    /// A running average `w = (1 − momentum)·w + momentum·g` of a statistic `g` (a batch norm's
    /// running mean and variance): no learning rate, so schedules leave it alone
    RunningAverage { momentum: f64 },
}

impl UpdateRule {
    /// Plain SGD.
    pub fn sgd(lr: f64) -> Self {
        UpdateRule::Sgd { lr, weight_decay: 0.0 }
    }

    /// SGD with momentum 0.9.
    pub fn momentum(lr: f64) -> Self {
        UpdateRule::Momentum {
            lr,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
        }
    }

    /// Nesterov momentum 0.9.
    pub fn nesterov(lr: f64) -> Self {
        UpdateRule::Momentum {
            lr,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 0.0,
        }
    }

    /// Adam with PyTorch's defaults (β = 0.9, 0.999; ε = 1e-8).
    pub fn adam(lr: f64) -> Self {
        UpdateRule::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }

    /// AdamW with PyTorch's defaults (weight decay 0.01).
    pub fn adamw(lr: f64) -> Self {
        UpdateRule::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            decoupled: true,
        }
    }

    /// The rule's name: `sgd`, `momentum`, `nesterov`, `adam`, `adamw`.
    pub fn name(&self) -> &'static str {
        match self {
            UpdateRule::Sgd { .. } => "sgd",
            UpdateRule::Momentum { nesterov: false, .. } => "momentum",
            UpdateRule::Momentum { nesterov: true, .. } => "nesterov",
            UpdateRule::Adam { decoupled: false, .. } => "adam",
            UpdateRule::Adam { decoupled: true, .. } => "adamw",
            UpdateRule::RunningAverage { .. } => "running_average",
        }
    }

    /// The base learning rate (0 for a running average, which has none).
    pub fn lr(&self) -> f64 {
        match *self {
            UpdateRule::Sgd { lr, .. } | UpdateRule::Momentum { lr, .. } | UpdateRule::Adam { lr, .. } => lr,
            UpdateRule::RunningAverage { .. } => 0.0,
        }
    }

    /// The per-parameter state buffers the rule keeps (momentum: `v`; Adam: `m`, `v`).
    pub fn state_names(&self) -> &'static [&'static str] {
        match self {
            UpdateRule::Sgd { .. } | UpdateRule::RunningAverage { .. } => &[],
            UpdateRule::Momentum { .. } => &["momentum"],
            UpdateRule::Adam { .. } => &["adam_m", "adam_v"],
        }
    }
}
