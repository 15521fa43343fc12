//! The WGSL against the Rust that drives it, checked with naga: every file parses and validates;
//! every kernel's spec (entry point, `@workgroup_size`, the storage bindings the entry point
//! really uses and whether it writes them) matches its shader, for every dispatch the GPU backend
//! can choose (tiled, split-k, 128-tiles, register-blocked, mixed precision on 8×8 and 16×16
//! cooperative matrices); every op of the op tables has a case
//! in each switch that selects by op code; and `Kernel::examples` covers every kind of kernel.

use std::collections::BTreeSet;

use naga::valid::{Capabilities, ModuleInfo, ValidationFlags, Validator};
use shadergrad::backend::wgpu::{launch_plan, CoopShape, Dispatch, MatmulPath, ShaderFile, Source};
use shadergrad::backend::{Kernel, Params};
use shadergrad::{BinaryOp, UnaryOp};

/// Parses and validates WGSL with the capabilities `caps` (none but for the mixed-precision
/// matmul's f16, subgroups and cooperative matrices).
fn parse(name: &str, source: &str, caps: Capabilities) -> (naga::Module, ModuleInfo) {
    let module = match naga::front::wgsl::parse_str(source) {
        Ok(m) => m,
        Err(e) => panic!("{name}: {}", e.emit_to_string(source)),
    };
    let info = match Validator::new(ValidationFlags::all(), caps).validate(&module) {
        Ok(info) => info,
        Err(e) => panic!("{name}: {}", e.emit_to_string(source)),
    };
    (module, info)
}

#[test]
fn every_shader_file_validates() {
    for file in ShaderFile::ALL {
        let (module, _) = parse(file.file_name(), &file.source(), Capabilities::empty());
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

/// `(binding, writable)` of every storage buffer entry point `ep` uses.
fn storage_used(module: &naga::Module, info: &ModuleInfo, ep: usize) -> BTreeSet<(u32, bool)> {
    let uses = info.get_entry_point(ep);
    module
        .global_variables
        .iter()
        .filter(|(h, _)| !uses[*h].is_empty())
        .filter_map(|(_, v)| match (v.space, v.binding.as_ref()) {
            (naga::AddressSpace::Storage { access }, Some(b)) => {
                Some((b.binding, access.contains(naga::StorageAccess::STORE)))
            }
            _ => None,
        })
        .collect()
}

/// Checks one dispatch's entry point, workgroup size and bindings against its WGSL.
fn check_dispatch(kernel: &Kernel, d: &Dispatch, checked: &mut BTreeSet<String>) {
    let source = d.key.source.text();
    let label = format!("{} via {}::{}", kernel.name(), d.key.source.name(), d.key.entry);
    let caps = match d.key.source {
        Source::Cooperative(_) => {
            Capabilities::SHADER_FLOAT16 | Capabilities::SUBGROUP | Capabilities::COOPERATIVE_MATRIX
        }
        _ => Capabilities::empty(),
    };
    let (module, info) = parse(&label, &source, caps);
    let Some(ep) = module.entry_points.iter().position(|e| e.name == d.key.entry) else {
        panic!("{label}: no such entry point");
    };
    assert_eq!(
        module.entry_points[ep].workgroup_size, d.workgroup,
        "{label}: @workgroup_size"
    );
    let want: BTreeSet<(u32, bool)> = d.bindings.iter().map(|&(slot, ro, _)| (slot, !ro)).collect();
    assert_eq!(want.len(), d.bindings.len(), "{label}: a slot bound twice");
    assert_eq!(
        storage_used(&module, &info, ep),
        want,
        "{label}: the storage bindings the entry point uses (slot, writable) differ from the spec's"
    );
    for (name, _) in &d.key.constants {
        assert!(
            module.overrides.iter().any(|(_, o)| o.name.as_deref() == Some(name)),
            "{label}: no override {name}"
        );
    }
    checked.insert(format!("{}::{}", d.key.source.name(), d.key.entry));
}

#[test]
fn every_kernel_spec_matches_its_shader() {
    // Sizes that reach every dispatch path: small (64-tiles), split along k, 128-tiles.
    let sizes = [
        Params::dims(&[7, 13, 5, 0]),
        Params::dims(&[40, 40, 4096, 0]),
        Params::dims(&[1030, 1030, 33, 0]),
    ];
    let mut checked = BTreeSet::new();
    for kernel in Kernel::examples() {
        for p in &sizes {
            for path in [
                MatmulPath::Tiled,
                MatmulPath::Blocked,
                // lavapipe's matrices, and NVIDIA's.
                MatmulPath::Cooperative(CoopShape { tile: 8, subgroup: 8 }),
                MatmulPath::Cooperative(CoopShape { tile: 16, subgroup: 32 }),
            ] {
                let plan = launch_plan(&kernel, p, path).unwrap();
                for d in &plan.dispatches {
                    if let Source::Blocked(_) | Source::Cooperative(_) = d.key.source {
                        // Generated per block and layout: one representative each is enough.
                        if !checked.insert(format!("{:?} {:?}", d.key.source, d.key.constants)) {
                            continue;
                        }
                    }
                    check_dispatch(&kernel, d, &mut checked);
                }
            }
        }
    }
    println!("  {} entry points checked against their specs", checked.len());
}

/// The case values of the first switch in function `name`.
fn switch_cases(module: &naga::Module, name: &str) -> BTreeSet<u32> {
    let (_, f) = module
        .functions
        .iter()
        .find(|(_, f)| f.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no function {name}"));
    for s in f.body.iter() {
        if let naga::Statement::Switch { cases, .. } = s {
            return cases
                .iter()
                .filter_map(|c| match c.value {
                    naga::SwitchValue::U32(v) => Some(v),
                    _ => None,
                })
                .collect();
        }
    }
    panic!("{name} has no switch")
}

#[test]
fn every_op_of_the_tables_has_a_case_in_each_switch() {
    let (unary, _) = parse("unary.wgsl", &ShaderFile::Unary.source(), Capabilities::empty());
    let codes: BTreeSet<u32> = UnaryOp::ALL.iter().map(|op| op.code()).collect();
    for f in ["unary_f", "unary_df"] {
        assert_eq!(
            switch_cases(&unary, f),
            codes,
            "unary_math.wgsl {f}: one case per UnaryOp"
        );
    }
    let (binary, _) = parse("binary.wgsl", &ShaderFile::Binary.source(), Capabilities::empty());
    let codes: BTreeSet<u32> = BinaryOp::ALL.iter().map(|op| op.code()).collect();
    for f in ["f", "df_da", "df_db"] {
        assert_eq!(
            switch_cases(&binary, f),
            codes,
            "binary.wgsl {f}: one case per BinaryOp"
        );
    }
}

#[test]
fn kernel_examples_cover_every_kind_of_kernel() {
    // The variants as the enum declares them, read from its source.
    let source = include_str!("../src/engine/kernel.rs");
    let start = source.find("pub enum Kernel {").expect("the enum");
    let body = &source[start..start + source[start..].find("\n}").expect("its end")];
    let variants: BTreeSet<&str> = body
        .lines()
        .filter(|l| l.starts_with("    ") && l.chars().nth(4).is_some_and(|c| c.is_ascii_uppercase()))
        .map(|l| l.trim().split(['(', ' ', ',', '{']).next().unwrap_or(""))
        .collect();
    let covered: BTreeSet<String> = Kernel::examples()
        .iter()
        .map(|k| format!("{k:?}").split(['(', ' ', '{']).next().unwrap_or("").to_string())
        .collect();
    let covered: BTreeSet<&str> = covered.iter().map(String::as_str).collect();
    assert_eq!(variants, covered, "Kernel::examples lists one of every variant");
    println!("  {} kinds of kernel", variants.len());
}

#[test]
fn storage_buffers_per_entry_point_stay_within_webgpu_limits() {
    for file in ShaderFile::ALL {
        let (module, info) = parse(file.file_name(), &file.source(), Capabilities::empty());
        for (i, ep) in module.entry_points.iter().enumerate() {
            let used = storage_used(&module, &info, i).len();
            assert!(
                used <= 8,
                "{}::{} uses {used} storage buffers; WebGPU allows 8 per stage",
                file.file_name(),
                ep.name
            );
        }
    }
}
