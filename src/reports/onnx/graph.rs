//! Building an ONNX graph: nodes that each name their output, constants, and typed inputs and
//! outputs whose first dimension is the batch (`N`).

use super::proto::{
    attribute_type, data_type, AttributeProto, Dimension, GraphProto, NodeProto, TensorProto, TensorShapeProto,
    TensorType, TypeProto, ValueInfoProto,
};

/// The `ai.onnx.ml` domain (classical ML operators: the one-hot encoder).
pub const ML: &str = "ai.onnx.ml";

/// A node's attribute value.
pub enum Attr {
    Float(f32),
    Int(i64),
    Str(String),
    Strs(Vec<String>),
}

/// A graph being built: each node gets a fresh output name (`t0`, `t1`, ...) unless named.
#[derive(Default)]
pub struct Builder {
    graph: GraphProto,
    next: usize,
}

/// A tensor type of `elem` whose shape is `[N, width]` (`N` the batch).
fn rows_of(elem: i32, width: usize) -> TypeProto {
    let dims = [
        Dimension {
            dim_value: None,
            dim_param: Some("N".into()),
        },
        Dimension {
            dim_value: Some(width as i64),
            dim_param: None,
        },
    ];
    TypeProto {
        tensor_type: Some(TensorType {
            elem_type: elem,
            shape: Some(TensorShapeProto { dim: dims.to_vec() }),
        }),
    }
}

impl Builder {
    /// `op` (of `domain`, empty for `ai.onnx`) on `inputs` with `attrs`; its output's name.
    pub fn node_in(&mut self, domain: &str, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        let out = format!("t{}", self.next);
        self.next += 1;
        let attribute = attrs
            .into_iter()
            .map(|(name, value)| {
                let mut a = AttributeProto {
                    name: name.into(),
                    ..Default::default()
                };
                match value {
                    Attr::Float(f) => (a.f, a.r#type) = (f, attribute_type::FLOAT),
                    Attr::Int(i) => (a.i, a.r#type) = (i, attribute_type::INT),
                    Attr::Str(s) => (a.s, a.r#type) = (s.into_bytes(), attribute_type::STRING),
                    Attr::Strs(v) => {
                        (a.strings, a.r#type) =
                            (v.into_iter().map(String::into_bytes).collect(), attribute_type::STRINGS)
                    }
                }
                a
            })
            .collect();
        self.graph.node.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name: format!("{op}_{}", self.graph.node.len()),
            op_type: op.into(),
            attribute,
            domain: domain.into(),
        });
        out
    }

    /// An `ai.onnx` node; its output's name.
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        self.node_in("", op, inputs, attrs)
    }

    /// The value `from` under the name `to` (a graph output's), by an `Identity` node.
    pub fn name(&mut self, from: &str, to: &str) {
        self.graph.node.push(NodeProto {
            input: vec![from.to_string()],
            output: vec![to.to_string()],
            name: format!("Identity_{}", self.graph.node.len()),
            op_type: "Identity".into(),
            ..Default::default()
        });
    }

    fn constant(&mut self, mut t: TensorProto) -> String {
        let name = format!("c{}", self.graph.initializer.len());
        t.name = name.clone();
        self.graph.initializer.push(t);
        name
    }

    /// A float constant of shape `dims`.
    pub fn floats(&mut self, dims: &[usize], values: &[f32]) -> String {
        self.constant(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: data_type::FLOAT,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        })
    }

    /// An int64 constant of shape `dims`.
    pub fn int64s(&mut self, dims: &[usize], values: &[i64]) -> String {
        self.constant(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: data_type::INT64,
            int64_data: values.to_vec(),
            ..Default::default()
        })
    }

    /// A string constant of shape `[values.len()]`.
    pub fn strings(&mut self, values: &[String]) -> String {
        self.constant(TensorProto {
            dims: vec![values.len() as i64],
            data_type: data_type::STRING,
            string_data: values.iter().map(|s| s.clone().into_bytes()).collect(),
            ..Default::default()
        })
    }

    /// A graph input `[N, width]` of `elem`.
    pub fn input(&mut self, name: &str, elem: i32, width: usize) {
        self.graph.input.push(ValueInfoProto {
            name: name.into(),
            r#type: Some(rows_of(elem, width)),
        });
    }

    /// A graph output of `elem`: `[N, width]`, or `[N]` when `width` is None.
    pub fn output(&mut self, name: &str, elem: i32, width: Option<usize>) {
        let mut t = rows_of(elem, width.unwrap_or(1));
        if width.is_none() {
            if let Some(shape) = t.tensor_type.as_mut().and_then(|t| t.shape.as_mut()) {
                shape.dim.truncate(1);
            }
        }
        self.graph.output.push(ValueInfoProto {
            name: name.into(),
            r#type: Some(t),
        });
    }

    /// The graph, named `name`.
    pub fn finish(mut self, name: &str) -> GraphProto {
        self.graph.name = name.into();
        self.graph
    }
}
