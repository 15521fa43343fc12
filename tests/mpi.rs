//! `mpirun -np 2 shadergrad train` on this machine (loopback only), built with
//! `--features mpi` against the system's Open MPI (`.ci/run` installs `openmpi-bin
//! libopenmpi-dev libclang-dev` and runs this file): the ranks train as one process would, on
//! the CPU and on lavapipe; Ctrl-C (SIGINT to mpirun) stops every rank with a checkpoint that
//! `--resume` continues bit for bit; ranks with other flags are refused with one message; a
//! rank killed mid-run ends the job within seconds, leaving the last checkpoint intact.
#![cfg(feature = "mpi")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use shadergrad::checkpoint::Checkpoint;

const BIN: &str = env!("CARGO_BIN_EXE_shadergrad");

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sg-mpi-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `mpirun -np <ranks>` running `program args` in `dir`; root may run it (CI machines run as
/// root), more ranks than cores are allowed, and nothing leaves the machine.
fn mpirun(dir: &Path, ranks: usize, program: &[&str], args: &[&str]) -> Command {
    let mut c = Command::new("mpirun");
    c.current_dir(dir)
        .args([
            "-np",
            &ranks.to_string(),
            "--oversubscribe",
            "--mca",
            "btl",
            "self,vader,tcp",
        ])
        .args(["--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"])
        .args(program)
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        // Containers often forbid the cross-process memory reads shared memory uses for big messages.
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none");
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The JSON epoch records a run printed.
fn records(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["record"] == "epoch")
        .collect()
}

const RUN: &[&str] = &[
    "train",
    "--json",
    "--hidden",
    "32",
    "--epochs",
    "2",
    "--batch",
    "63",
    "--validation",
    "500",
];

#[test]
fn two_ranks_train_as_one_process_on_the_cpu_and_on_lavapipe() {
    // The global batch of 63 splits 32 + 31; the epoch losses are one process's to within f32
    // rounding (the sum is taken in another order), and only rank 0 speaks and writes.
    for backend in ["cpu", "gpu"] {
        let dir = temp(&format!("same-{backend}"));
        let args: Vec<&str> = RUN.iter().copied().chain(["--backend", backend]).collect();
        let one = Command::new(BIN)
            .current_dir(&dir)
            .args(&args)
            .args(["--out", "one.safetensors"])
            .output()
            .unwrap();
        assert!(one.status.success(), "{}", text(&one));
        let two = mpirun(&dir, 2, &[BIN], &args).output().unwrap();
        assert!(two.status.success(), "{}", text(&two));
        let (a, b) = (records(&one), records(&two));
        assert_eq!(
            (a.len(), b.len()),
            (2, 2),
            "one JSON record per epoch, from rank 0 alone: {}",
            text(&two)
        );
        for (a, b) in a.iter().zip(&b) {
            assert_eq!(b["devices"], 2);
            for key in ["loss", "val_loss"] {
                let (x, y) = (a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
                assert!((x - y).abs() <= 1e-5 * x, "{backend} {key}: {x} against {y}");
            }
        }
        let said = text(&two);
        assert_eq!(said.matches("training 784-32-10").count(), 1, "{said}");
        assert!(
            said.contains("on 2 MPI ranks") && said.contains("all-reduce of"),
            "{said}"
        );
        assert!(Checkpoint::load(&dir.join("model.safetensors")).is_ok());
        println!(
            "  {backend}: 2 ranks, epoch losses {} and {} as one process's",
            b[0]["loss"], b[1]["loss"]
        );
    }
}

/// Waits until `path` exists (a run's first checkpoint), at most `limit`.
fn wait_for(path: &Path, child: &mut Child, limit: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before writing {}",
            path.display()
        );
        assert!(start.elapsed() < limit, "no {} after {limit:?}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two ranks training the long run for `epochs`, once rank 0 has saved its first checkpoint.
fn two_ranks_past_a_checkpoint(dir: &Path, epochs: &str) -> Child {
    let mut child = mpirun(dir, 2, &[BIN], LONG)
        .args(["--epochs", epochs])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&dir.join("model.safetensors"), &mut child, Duration::from_secs(60));
    child
}

/// Waits for `child` to end, at most `limit`: its output.
fn finish(child: Child, limit: Duration) -> Output {
    let pid = child.id();
    let start = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !waiter.is_finished() {
        if start.elapsed() > limit {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("mpirun still running after {limit:?}: a rank was left hanging");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    waiter.join().unwrap()
}

/// The pid of rank `rank` among mpirun's children (from the rank Open MPI puts in each one's
/// environment).
fn rank_pid(mpirun: u32, rank: usize) -> Option<u32> {
    let children = Command::new("pgrep").args(["-P", &mpirun.to_string()]).output().ok()?;
    String::from_utf8_lossy(&children.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .find(|pid: &u32| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|&b| b == 0)
                    .any(|v| v == format!("OMPI_COMM_WORLD_RANK={rank}").as_bytes())
            })
        })
}

/// A long run that checkpoints after every epoch (the tests wait for its first checkpoint).
const LONG: &[&str] = &[
    "train",
    "--backend",
    "cpu",
    "--hidden",
    "64",
    "--batch",
    "64",
    "--checkpoint-every",
    "0",
];

#[test]
fn ctrl_c_stops_every_rank_with_a_checkpoint_that_resumes_bit_for_bit() {
    let dir = temp("resume");
    // The whole run, uninterrupted.
    let whole = mpirun(&dir, 2, &[BIN], LONG)
        .args(["--out", "whole.safetensors", "--epochs", "30"])
        .output()
        .unwrap();
    assert!(whole.status.success(), "{}", text(&whole));
    // The same run, Ctrl-C'd after its first epoch: mpirun passes SIGTERM on to the ranks,
    // which agree to stop after the next step; rank 0 saves where they stopped.
    let child = two_ranks_past_a_checkpoint(&dir, "30");
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let stopped = finish(child, Duration::from_secs(30));
    let said = text(&stopped);
    let resumed = mpirun(&dir, 2, &[BIN], &["train", "--resume", "model.safetensors"])
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{said}\n{}", text(&resumed));
    if !said.contains("interrupted at epoch") {
        // The signal came after the last step: nothing to resume, and the model is the whole run's.
        assert!(said.contains("saved model.safetensors"), "{said}");
    }
    let (a, b) = (
        Checkpoint::load(&dir.join("whole.safetensors")).unwrap(),
        Checkpoint::load(&dir.join("model.safetensors")).unwrap(),
    );
    for (name, (_, want)) in &a.model.params {
        let got = &b.model.params[name].1;
        assert!(
            want.iter().zip(got).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{name} differs after resume:\n{said}"
        );
    }
    println!(
        "  stopped: {}",
        said.lines()
            .find(|l| l.contains("interrupted"))
            .unwrap_or("after the last step")
    );
}

#[test]
fn ranks_with_other_flags_are_refused_with_one_message() {
    let dir = temp("flags");
    let script =
        format!("if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then exec {BIN} train --batch 32; else exec {BIN} train; fi");
    let o = finish(
        mpirun(&dir, 2, &["sh", "-c", &script], &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        Duration::from_secs(60),
    );
    assert!(!o.status.success());
    let said = text(&o);
    assert_eq!(said.matches("error:").count(), 1, "{said}");
    assert!(
        said.contains("MPI rank(s) 1 were started with other flags than rank 0 (`train`)"),
        "{said}"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing written");
}

#[test]
fn a_rank_killed_mid_run_ends_the_job_and_the_last_checkpoint_stays() {
    let dir = temp("killed");
    let child = two_ranks_past_a_checkpoint(&dir, "40");
    let victim = rank_pid(child.id(), 1).expect("rank 1 among mpirun's children");
    Command::new("kill").args(["-9", &victim.to_string()]).status().unwrap();
    let started = Instant::now();
    let o = finish(child, Duration::from_secs(30));
    assert!(!o.status.success(), "{}", text(&o));
    // Rank 0 may have been killed mid-save: the save is atomic, so the last one is whole.
    let saved = Checkpoint::load(&dir.join("model.safetensors")).expect("the last checkpoint loads");
    assert!(saved.training.is_some());
    println!(
        "  rank 1 killed: the job ended {:.1} s later; the last checkpoint loads",
        started.elapsed().as_secs_f64()
    );
}
