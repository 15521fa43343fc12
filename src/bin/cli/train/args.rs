//! `shadergrad train`'s flags, as clap reads them; what each means is in [`super::settings`].

use std::path::PathBuf;

use crate::cli::data::DataArgs;

#[derive(clap::Args)]
#[command(mut_arg("data", |a| a.help("A CSV table, a NumPy .npy of features (with --targets) or .npz (arrays x and y), or a directory holding <prefix>-images-idx3-ubyte[.gz] and <prefix>-labels-idx1-ubyte[.gz] [default: the 8,000 bundled digits]")))]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// What the targets are: classify, regress or multilabel [default: classify for digits;
    /// for a CSV or NumPy file it must be given].
    #[arg(long, value_parser = ["classify", "regress", "multilabel"])]
    pub task: Option<String>,
    /// Standardise the features (and regression targets) of a CSV or NumPy file by the
    /// training split's mean and deviation: on or off [default: on].
    #[arg(long, value_parser = ["on", "off"])]
    pub standardize: Option<String>,
    /// Hidden layer sizes [default: 256,256, or 64,64 for fewer than 1,000 training examples].
    #[arg(long)]
    pub hidden: Option<String>,
    /// relu, leaky_relu[:alpha], elu[:alpha], sigmoid, tanh, gelu, silu, softplus [default: relu].
    #[arg(long)]
    pub activation: Option<String>,
    /// sgd, momentum, nesterov, adam, adamw [default: momentum].
    #[arg(long, value_parser = ["sgd", "momentum", "nesterov", "adam", "adamw"])]
    pub optimizer: Option<String>,
    /// Learning rate [default: 0.05 for sgd/momentum, 0.001 for adam].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning-rate schedule: constant, cosine, step:EVERY:GAMMA [default: cosine].
    #[arg(long)]
    pub schedule: Option<String>,
    /// Examples per step [default: 64].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Passes over the training data [default: 30 for augmented images; otherwise 10, or as
    /// many as make 100 steps when the training split is small, so 120 rows at batch 64 train
    /// for 50 epochs].
    #[arg(long)]
    pub epochs: Option<u64>,
    /// Seed of the initial weights, the split and the shuffles [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Weight initialisation: kaiming (PyTorch's default) or xavier [default: kaiming].
    #[arg(long, value_parser = ["kaiming", "xavier"])]
    pub init: Option<String>,
    /// Examples held out for validation [default: one eighth of the data].
    #[arg(long)]
    pub validation: Option<usize>,
    /// gpu, cpu or auto [default: auto, or SHADERGRAD_BACKEND].
    #[arg(long, value_parser = ["gpu", "cpu", "auto"])]
    pub backend: Option<String>,
    /// Split every batch across devices, data-parallel: a number of devices (the best GPUs of
    /// one kind, shared when there are fewer; CPU replicas on --backend cpu), or adapters by
    /// number or name part, as SHADERGRAD_ADAPTER names one: 0,2 [default: 1].
    #[arg(long)]
    pub devices: Option<String>,
    /// Matrix products in mixed precision: f16 operands, f32 sums, on the GPU's cooperative
    /// matrices (tensor cores); an error saying what is missing on a GPU without them.
    #[arg(long)]
    pub mixed_precision: bool,
    /// Where the model is saved (atomically), after every epoch and at the end; what --resume
    /// needs besides (optimizer state, progress) goes beside it in <OUT>.resume [default: with
    /// --resume, the file resumed; otherwise model.safetensors, or the first free
    /// model-N.safetensors when that holds another run].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the model and its resume file at most this often while training (between steps
    /// or at an epoch's end), besides at the end and on Ctrl-C: 90s, 5m, 1h, or 0 for after
    /// every epoch [default: 1m]. A crash loses at most this much; a short run writes once.
    #[arg(long)]
    pub checkpoint_every: Option<String>,
    /// Continue the run saved in this model file (and its .resume file), saving it there.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// The training-curve picture, .svg or .png [default: the model's name with .svg].
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// One JSON object per line on stdout (JSON Lines): a record per epoch, then one that sums
    /// up the run.
    #[arg(long)]
    pub json: bool,
    /// Read the loss back every N steps [default: 10].
    #[arg(long)]
    pub loss_every: Option<u64>,
    /// Dropout after each hidden activation: the probability of dropping a value, in [0, 1)
    /// [default: 0].
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Normalisation before each hidden activation: none, layer or batch [default: none].
    #[arg(long, value_parser = ["none", "layer", "batch"])]
    pub norm: Option<String>,
    /// Label smoothing of the cross-entropy, in [0, 1) (classify) [default: 0.1 for images,
    /// 0 otherwise].
    #[arg(long)]
    pub label_smoothing: Option<f64>,
    /// Weigh each class's examples in the loss (classify): `balanced` (n / (classes · count),
    /// as scikit-learn's) or CLASS=WEIGHT,... with the classes as written (others weigh 1)
    /// [default: every example weighs 1].
    #[arg(long)]
    pub class_weight: Option<String>,
    /// Training images shifted by up to N pixels each way, or off [default: shift:2 for
    /// images, off for other data].
    #[arg(long)]
    pub augment: Option<String>,
    /// Stop after N epochs without a better validation score, and save the best epoch's model
    /// [default: none: train every epoch, save the last].
    #[arg(long)]
    pub patience: Option<u64>,
    /// Print the training step's launches (kernels, sizes, buffers) and what was fused and why,
    /// then exit without training.
    #[arg(long)]
    pub show_plan: bool,
    /// Submit each step without waiting for it and read its loss a step later: the next batch
    /// is gathered and uploaded while the GPU computes (the same model bit for bit).
    #[arg(long)]
    pub pipeline: bool,
}
