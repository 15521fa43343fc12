//! Every WGSL file parses and validates with naga, and the op codes in the shaders agree with
//! the Rust enums that select them.

use naga::valid::{Capabilities, ValidationFlags, Validator};
use shadergrad::backend::wgpu::ShaderFile;
use shadergrad::{BinaryOp, Broadcast, UnaryOp};

fn parse(file: ShaderFile) -> naga::Module {
    let source = file.source();
    match naga::front::wgsl::parse_str(&source) {
        Ok(m) => m,
        Err(e) => panic!("{}: {}", file.file_name(), e.emit_to_string(&source)),
    }
}

#[test]
fn every_shader_file_validates() {
    for file in ShaderFile::ALL {
        let module = parse(file);
        let info = Validator::new(ValidationFlags::all(), Capabilities::empty()).validate(&module);
        if let Err(e) = info {
            panic!("{}: {}", file.file_name(), e.emit_to_string(&file.source()));
        }
        for ep in &module.entry_points {
            let [x, y, z] = ep.workgroup_size;
            assert!(
                x * y * z <= 256,
                "{}::{} uses {} invocations",
                file.file_name(),
                ep.name,
                x * y * z
            );
        }
        println!(
            "  {:<14} valid, entry points: {}",
            file.file_name(),
            module
                .entry_points
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// The value of a named `const` of u32 type in a module.
fn constant(module: &naga::Module, name: &str) -> Option<u32> {
    module.constants.iter().find_map(|(_, c)| {
        if c.name.as_deref() != Some(name) {
            return None;
        }
        match module.global_expressions[c.init] {
            naga::Expression::Literal(naga::Literal::U32(v)) => Some(v),
            _ => None,
        }
    })
}

#[test]
fn op_codes_match_the_shaders() {
    let unary = parse(ShaderFile::Unary);
    for op in UnaryOp::ALL {
        let name = op.name().to_uppercase();
        assert_eq!(constant(&unary, &name), Some(op.code()), "unary.wgsl const {name}");
    }
    let binary = parse(ShaderFile::Binary);
    for op in BinaryOp::ALL {
        let name = op.name().to_uppercase();
        assert_eq!(constant(&binary, &name), Some(op.code()), "binary.wgsl const {name}");
    }
    let reduce = parse(ShaderFile::Reduce);
    for (mode, name) in [
        (Broadcast::Scalar, "SCALAR"),
        (Broadcast::Rows, "ROWS"),
        (Broadcast::Cols, "COLS"),
    ] {
        assert_eq!(constant(&reduce, name), Some(mode.code()), "reduce.wgsl const {name}");
    }
}

#[test]
fn storage_buffers_per_entry_point_stay_within_webgpu_limits() {
    for file in ShaderFile::ALL {
        let module = parse(file);
        let storage = module
            .global_variables
            .iter()
            .filter(|(_, v)| matches!(v.space, naga::AddressSpace::Storage { .. }))
            .count();
        assert!(
            storage <= 8,
            "{} declares {storage} storage buffers; WebGPU allows 8 per stage",
            file.file_name()
        );
    }
}
