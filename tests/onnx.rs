//! ONNX export without Python: the exported graph's inputs (one per table column, typed as the
//! schema reads it; `image` or `features` otherwise), outputs (by task), opsets and node counts
//! by operator, decoded from the bytes. onnxruntime checks the answers (python/tests/test_onnx.py).

use std::collections::BTreeMap;

use prost::Message;
use shadergrad::backend::cpu::CpuBackend;
use shadergrad::data::table::{parse_csv, Columns};
use shadergrad::data::{Dataset, Task};
use shadergrad::model::Model;
use shadergrad::nn::{Activation, Init, Mlp, Norm};
use shadergrad::onnx::proto::{data_type, ModelProto};
use shadergrad::optim::{Optimizer, Schedule};
use shadergrad::train::{TrainConfig, Trainer};

fn model_of(data: &Dataset, hidden: &[usize], activation: Activation, norm: Norm, dropout: f64) -> Model {
    let mut sizes = vec![data.feature_count];
    sizes.extend(hidden);
    sizes.push(data.outputs());
    let config = TrainConfig {
        mlp: Mlp::new(&sizes, activation)
            .unwrap()
            .with_norm(norm)
            .with_dropout(dropout)
            .unwrap(),
        task: data.task(),
        init: Init::KaimingUniform,
        optimizer: Optimizer::sgd(0.1),
        schedule: Schedule::Constant,
        batch: 4,
        epochs: 1,
        seed: 0,
        loss_every: 1,
        regularize: Default::default(),
    };
    Trainer::new(&CpuBackend::<f32>::new(), config)
        .unwrap()
        .model(data)
        .unwrap()
}

/// Values by name and element type.
type Typed = Vec<(String, i32)>;

/// The exported graph: its inputs (name, element type), outputs, and nodes by operator.
fn exported(model: &Model) -> (Typed, Typed, BTreeMap<String, usize>) {
    let onnx = ModelProto::decode(&model.to_onnx().unwrap()[..]).unwrap();
    assert_eq!(onnx.producer_name, "shadergrad");
    let opsets: Vec<(String, i64)> = onnx
        .opset_import
        .iter()
        .map(|o| (o.domain.clone(), o.version))
        .collect();
    assert_eq!(opsets, [("".to_string(), 20), ("ai.onnx.ml".to_string(), 1)]);
    let graph = onnx.graph.unwrap();
    let typed = |v: &shadergrad::onnx::proto::ValueInfoProto| {
        (
            v.name.clone(),
            v.r#type.as_ref().unwrap().tensor_type.as_ref().unwrap().elem_type,
        )
    };
    let mut ops = BTreeMap::new();
    for n in &graph.node {
        *ops.entry(n.op_type.clone()).or_insert(0) += 1;
    }
    (
        graph.input.iter().map(typed).collect(),
        graph.output.iter().map(typed).collect(),
        ops,
    )
}

const TABLE: &[u8] = b"size,colour,member,plan,price\n\
    1.5,red,yes,gold,10\n2.5,blue,no,silver,12\nNA,red,yes,gold,9\n3.5,,no,silver,14\n\
    1.0,red,yes,gold,8\n2.0,blue,no,silver,11\n3.0,blue,yes,gold,13\n1.2,red,no,silver,9\n\
    2.2,blue,yes,gold,12\n2.8,red,no,silver,13\n1.7,blue,yes,gold,10\n2.9,red,no,silver,14\n";

#[test]
fn a_table_model_takes_its_columns_and_answers_by_task() {
    let columns = |target: &str, drop: &str| Columns {
        targets: vec![target.into()],
        drop: vec![drop.into()],
        ..Columns::default()
    };
    let data = parse_csv(TABLE, "t.csv", &columns("plan", "price"), Task::Classify).unwrap();
    let model = model_of(&data, &[6, 5], Activation::Relu, Norm::Layer, 0.1);
    let (inputs, outputs, ops) = exported(&model);
    assert_eq!(
        inputs,
        [
            ("size".to_string(), data_type::FLOAT),
            ("colour".to_string(), data_type::STRING),
            ("member".to_string(), data_type::STRING)
        ]
    );
    assert_eq!(
        outputs,
        [
            ("label".to_string(), data_type::STRING),
            ("probabilities".to_string(), data_type::FLOAT)
        ]
    );
    // size: filled (IsNaN, Where) with its indicator (Cast); colour and member: one-hot plus a
    // blank encoder each; three Gemm, two LayerNormalization, two Relu; no dropout node.
    assert_eq!(ops["IsNaN"], 1);
    assert_eq!(ops["OneHotEncoder"], 4);
    assert_eq!(ops["Gemm"], 3);
    assert_eq!(ops["LayerNormalization"], 2);
    assert_eq!(ops["Relu"], 2);
    assert!(!ops.contains_key("Dropout"));
    assert_eq!(
        (ops["ArgMax"], ops["Softmax"], ops["Gather"], ops["Identity"]),
        (1, 1, 1, 2)
    );

    let values = parse_csv(TABLE, "t.csv", &columns("price", "plan"), Task::Regress).unwrap();
    let model = model_of(&values, &[4], Activation::Gelu, Norm::Batch, 0.0);
    let (_, outputs, ops) = exported(&model);
    assert_eq!(outputs, [("values".to_string(), data_type::FLOAT)]);
    assert_eq!((ops["BatchNormalization"], ops["Gelu"]), (1, 1));
}

#[test]
fn an_image_model_takes_pixels_and_others_features() {
    let digits = Dataset::bundled_digits().unwrap();
    let model = model_of(&digits, &[8], Activation::Silu, Norm::None, 0.0);
    let (inputs, outputs, ops) = exported(&model);
    assert_eq!(inputs, [("image".to_string(), data_type::FLOAT)]);
    assert_eq!(outputs[0], ("label".to_string(), data_type::INT64));
    // SiLU is x · σ(x); the pixels' scale is one Mul.
    assert_eq!((ops["Sigmoid"], ops["Mul"]), (1, 2));

    let labels = Columns {
        targets: vec!["a".into(), "b".into()],
        ..Columns::default()
    };
    let csv = b"x,y,a,b\n1,2,0,1\n2,3,1,0\n3,1,1,1\n4,4,0,0\n";
    let data = parse_csv(csv, "l.csv", &labels, Task::Multilabel).unwrap();
    let mut model = model_of(&data, &[4], Activation::Tanh, Norm::None, 0.0);
    model.info.schema = None; // a model of numbers alone, as arrays make
    let (inputs, outputs, _) = exported(&model);
    assert_eq!(inputs, [("features".to_string(), data_type::FLOAT)]);
    assert_eq!(
        outputs,
        [
            ("probabilities".to_string(), data_type::FLOAT),
            ("labels".to_string(), data_type::INT64)
        ]
    );
}
