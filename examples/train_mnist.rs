//! Train 784-256-256-10 on the bundled digits: the whole library API of a training step is
//! `trainer.step(&digits, &batch, read_loss)` (upload, forward, loss, backward, update: one submit).
//!
//! Run: `cargo run --release --example train_mnist`

use shadergrad::data::{epoch_order, Dataset, Task};
use shadergrad::nn::{Activation, Init, Mlp};
use shadergrad::optim::{Optimizer, Schedule};
use shadergrad::train::{TrainConfig, Trainer};
use shadergrad::Device;

fn main() -> shadergrad::Result<()> {
    let digits = Dataset::bundled_digits()?;
    let (train, test) = digits.split(1000, 0);
    let config = TrainConfig {
        mlp: Mlp::new(&[784, 256, 256, 10], Activation::Relu)?,
        task: Task::Classify,
        init: Init::KaimingUniform,
        optimizer: Optimizer::momentum(0.05),
        schedule: Schedule::Cosine {
            total: 5 * 110,
            min_factor: 0.0,
        },
        batch: 64,
        epochs: 5,
        seed: 0,
        loss_every: 50,
        regularize: Default::default(),
    };
    match Device::best()? {
        Device::Gpu(gpu) => run(Trainer::new(&gpu, config)?, &train, &test),
        Device::Cpu(cpu) => run(Trainer::new(&cpu, config)?, &train, &test),
    }
}

fn run<B: shadergrad::backend::Backend>(
    mut trainer: Trainer<B>,
    train: &Dataset,
    test: &Dataset,
) -> shadergrad::Result<()> {
    println!("training on {}", trainer.store().backend().describe());
    let batch = trainer.config().batch;
    for epoch in 0..trainer.config().epochs {
        let order = epoch_order(train.len(), trainer.config().seed, epoch);
        let mut last = None;
        for (i, indices) in order.chunks(batch).enumerate() {
            // forward, loss, backward, update; read the loss back every 50 steps only
            if let Some(loss) = trainer.step(train, indices, i % 50 == 0)? {
                last = Some(loss);
            }
        }
        let eval = trainer.evaluate(test)?;
        println!(
            "epoch {}: loss {:.4}, held-out accuracy {:.2}%",
            epoch + 1,
            last.unwrap_or(f64::NAN),
            100.0 * eval.score()
        );
    }
    Ok(())
}
