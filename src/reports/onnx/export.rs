//! A model as an ONNX graph: the inputs as a user has them, the preprocessing the model records,
//! the layers, and the answer.

use crate::engine::error::{Error, Result};
use crate::engine::op::UnaryOp;
use crate::training::data::table::{Encoding, Feature};
use crate::training::data::{format_label, Standardizer, Task};
use crate::training::model::Model;
use crate::training::nn::{Module, LAYER_NORM_EPS};

use super::graph::{Attr, Builder, ML};
use super::proto::{data_type, ModelProto, OperatorSetIdProto, StringStringEntryProto};

/// The one input of a model of numbers that is not a table's: `[N, features]`.
pub const INPUT_FEATURES: &str = "features";
/// The one input of a model of images: `[N, pixels]`, each pixel's value 0–255.
pub const INPUT_IMAGE: &str = "image";

/// The ONNX opset of `ai.onnx` the graph uses, and of `ai.onnx.ml`.
const OPSET: i64 = 20;
const ML_OPSET: i64 = 1;
/// ONNX's IR version of opset 20.
const IR_VERSION: i64 = 9;

/// The model `model` is as an ONNX file (see [`crate::onnx`]). A model of something ONNX cannot
/// express is refused, naming it.
pub fn export(model: &Model) -> Result<ModelProto> {
    let info = &model.info;
    let mut g = Builder::default();
    let mut x = match (&info.schema, info.byte_scale) {
        (Some(schema), _) => table_inputs(&mut g, &schema.features)?,
        (None, Some(scale)) => {
            g.input(INPUT_IMAGE, data_type::FLOAT, info.mlp.inputs());
            let s = g.floats(&[], &[scale as f32]);
            g.node("Mul", &[INPUT_IMAGE, &s], vec![])
        }
        (None, None) => {
            g.input(INPUT_FEATURES, data_type::FLOAT, info.mlp.inputs());
            INPUT_FEATURES.to_string()
        }
    };
    if let Some(s) = &info.scaling.features {
        x = standardise(&mut g, &x, s);
    }
    let logits = layers(&mut g, model, x)?;
    answer(&mut g, model, &logits)?;
    let metadata = |key: &str, value: String| StringStringEntryProto { key: key.into(), value };
    let mut props = vec![
        metadata("task", info.task.name().into()),
        metadata("architecture", info.mlp.describe()),
    ];
    if info.task == Task::Classify {
        let classes: Vec<String> = (0..info.classes.len()).map(|c| info.class_name(c)).collect();
        props.push(metadata("classes", serde_json::to_string(&classes).unwrap_or_default()));
    }
    if let Some(t) = &info.trained_on {
        props.push(metadata("trained_on", serde_json::to_string(t).unwrap_or_default()));
    }
    Ok(ModelProto {
        ir_version: IR_VERSION,
        producer_name: "shadergrad".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("{} ({}), exported by shadergrad", info.mlp.describe(), info.task.name()),
        graph: Some(g.finish("shadergrad")),
        opset_import: vec![
            OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            },
            OperatorSetIdProto {
                domain: ML.into(),
                version: ML_OPSET,
            },
        ],
        metadata_props: props,
    })
}

/// A table's columns as the graph's inputs (one per feature column, `[N, 1]`: float numbers,
/// string categories), encoded as the model's schema encodes them; the `[N, inputs]` matrix.
fn table_inputs(g: &mut Builder, features: &[Feature]) -> Result<String> {
    let mut parts = Vec::new();
    for f in features {
        let column = f.column.as_str();
        match &f.encoding {
            Encoding::Number { fill, indicator } => {
                g.input(column, data_type::FLOAT, 1);
                let missing = g.node("IsNaN", &[column], vec![]);
                let fill = g.floats(&[], &[*fill]);
                parts.push(g.node("Where", &[&missing, &fill, column], vec![]));
                if *indicator {
                    parts.push(g.node("Cast", &[&missing], vec![("to", Attr::Int(data_type::FLOAT as i64))]));
                }
            }
            Encoding::OneHot {
                categories,
                other,
                missing,
            } => {
                g.input(column, data_type::STRING, 1);
                // [N, 1] strings to [N, 1, C] floats (all zero for a category not listed).
                let one_hot = |g: &mut Builder, cats: &[String]| {
                    let encoded = g.node_in(
                        ML,
                        "OneHotEncoder",
                        &[column],
                        vec![("cats_strings", Attr::Strs(cats.to_vec())), ("zeros", Attr::Int(1))],
                    );
                    g.node("Flatten", &[&encoded], vec![("axis", Attr::Int(1))])
                };
                let known = one_hot(g, categories);
                parts.push(known.clone());
                // A missing cell is "": its own input where training had missing cells, else
                // "other" (as `Schema::encode` sends it there).
                let blank = one_hot(g, &[String::new()]);
                if *other {
                    let one = g.floats(&[], &[1.0]);
                    let axes = g.int64s(&[1], &[1]);
                    let seen = g.node("ReduceSum", &[&known, &axes], vec![("keepdims", Attr::Int(1))]);
                    let mut rest = g.node("Sub", &[&one, &seen], vec![]);
                    if *missing {
                        rest = g.node("Sub", &[&rest, &blank], vec![]);
                    }
                    parts.push(rest);
                }
                if *missing {
                    parts.push(blank);
                }
            }
        }
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    Ok(g.node("Concat", &refs, vec![("axis", Attr::Int(1))]))
}

/// A standardisation's means and standard deviations, as two f32 constants of the graph.
fn moments(g: &mut Builder, s: &Standardizer) -> (String, String) {
    let n = s.mean.len();
    let f32s = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<_>>();
    (g.floats(&[n], &f32s(&s.mean)), g.floats(&[n], &f32s(&s.std)))
}

/// `(x − mean) / std`, input by input.
fn standardise(g: &mut Builder, x: &str, s: &Standardizer) -> String {
    let (mean, std) = moments(g, s);
    let centred = g.node("Sub", &[x, &mean], vec![]);
    g.node("Div", &[&centred, &std], vec![])
}

/// The parameter `name` of `model`, as f32 values of the shape the module says.
fn param<'m>(model: &'m Model, index: usize, name: &str) -> Result<&'m [f32]> {
    let key = format!("{index}.{name}");
    model.params.get(&key).map(|(_, v)| v.as_slice()).ok_or_else(|| {
        Error::invalid(
            "model",
            key.clone(),
            "a model file holding every parameter of its stack",
        )
    })
}

/// The layers of the model's `nn.Sequential` stack on `x`; the logits.
fn layers(g: &mut Builder, model: &Model, mut x: String) -> Result<String> {
    for (i, module) in model.info.mlp.modules().into_iter().enumerate() {
        x = match module {
            Module::Linear { inputs, outputs } => {
                let w = g.floats(&[outputs, inputs], param(model, i, "weight")?);
                let b = g.floats(&[outputs], param(model, i, "bias")?);
                g.node("Gemm", &[&x, &w, &b], vec![("transB", Attr::Int(1))])
            }
            Module::LayerNorm { features } => {
                let w = g.floats(&[features], param(model, i, "weight")?);
                let b = g.floats(&[features], param(model, i, "bias")?);
                g.node(
                    "LayerNormalization",
                    &[&x, &w, &b],
                    vec![("axis", Attr::Int(-1)), ("epsilon", Attr::Float(LAYER_NORM_EPS as f32))],
                )
            }
            Module::BatchNorm { features } => {
                let inputs: Vec<String> = ["weight", "bias", "running_mean", "running_var"]
                    .into_iter()
                    .map(|name| Ok(g.floats(&[features], param(model, i, name)?)))
                    .collect::<Result<_>>()?;
                g.node(
                    "BatchNormalization",
                    &[&x, &inputs[0], &inputs[1], &inputs[2], &inputs[3]],
                    vec![("epsilon", Attr::Float(LAYER_NORM_EPS as f32))],
                )
            }
            Module::Activation(op) => activation(g, &x, op)?,
            // Inference: dropout keeps everything as it is.
            Module::Dropout(_) => x,
        };
    }
    Ok(x)
}

/// `op` applied to `x`.
fn activation(g: &mut Builder, x: &str, op: UnaryOp) -> Result<String> {
    Ok(match op {
        UnaryOp::Relu => g.node("Relu", &[x], vec![]),
        UnaryOp::LeakyRelu(a) => g.node("LeakyRelu", &[x], vec![("alpha", Attr::Float(a as f32))]),
        UnaryOp::Elu(a) => g.node("Elu", &[x], vec![("alpha", Attr::Float(a as f32))]),
        UnaryOp::Sigmoid => g.node("Sigmoid", &[x], vec![]),
        UnaryOp::Tanh => g.node("Tanh", &[x], vec![]),
        UnaryOp::Gelu => g.node("Gelu", &[x], vec![("approximate", Attr::Str("tanh".into()))]),
        UnaryOp::Silu => {
            let s = g.node("Sigmoid", &[x], vec![]);
            g.node("Mul", &[x, &s], vec![])
        }
        UnaryOp::Softplus => g.node("Softplus", &[x], vec![]),
        other => {
            return Err(Error::invalid(
                "activation",
                other.spec(),
                "an activation ONNX expresses (relu, leaky_relu, elu, sigmoid, tanh, gelu, silu, softplus)",
            ))
        }
    })
}

/// The outputs: `label` and `probabilities` (classify), `values` (regress), `probabilities` and
/// `labels` (multi-label).
fn answer(g: &mut Builder, model: &Model, logits: &str) -> Result<()> {
    let info = &model.info;
    let k = info.mlp.classes();
    match info.task {
        Task::Classify => {
            let best = g.node(
                "ArgMax",
                &[logits],
                vec![("axis", Attr::Int(1)), ("keepdims", Attr::Int(0))],
            );
            let whole = info.classes.iter().all(|c| c.fract() == 0.0 && c.abs() < 1e15);
            if info.class_names.is_empty() && whole {
                let labels: Vec<i64> = info.classes.iter().map(|&c| c as i64).collect();
                let labels = g.int64s(&[labels.len()], &labels);
                let label = g.node("Gather", &[&labels, &best], vec![]);
                g.name(&label, "label");
                g.output("label", data_type::INT64, None);
            } else {
                let names: Vec<String> = match info.class_names.is_empty() {
                    true => info.classes.iter().map(|&c| format_label(c)).collect(),
                    false => info.class_names.clone(),
                };
                let labels = g.strings(&names);
                let label = g.node("Gather", &[&labels, &best], vec![]);
                g.name(&label, "label");
                g.output("label", data_type::STRING, None);
            }
            let p = g.node("Softmax", &[logits], vec![("axis", Attr::Int(1))]);
            g.name(&p, "probabilities");
            g.output("probabilities", data_type::FLOAT, Some(k));
        }
        Task::Regress => {
            let values = match &info.scaling.targets {
                Some(s) => {
                    // Back to original units: the inverse of `standardise`.
                    let (mean, std) = moments(g, s);
                    let scaled = g.node("Mul", &[logits, &std], vec![]);
                    g.node("Add", &[&scaled, &mean], vec![])
                }
                None => logits.to_string(),
            };
            g.name(&values, "values");
            g.output("values", data_type::FLOAT, Some(k));
        }
        Task::Multilabel => {
            let p = g.node("Sigmoid", &[logits], vec![]);
            g.name(&p, "probabilities");
            g.output("probabilities", data_type::FLOAT, Some(k));
            let half = g.floats(&[], &[0.5]);
            let on = g.node("Greater", &[&p, &half], vec![]);
            let labels = g.node("Cast", &[&on], vec![("to", Attr::Int(data_type::INT64 as i64))]);
            g.name(&labels, "labels");
            g.output("labels", data_type::INT64, Some(k));
        }
    }
    Ok(())
}
