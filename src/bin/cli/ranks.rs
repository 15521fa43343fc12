//! `shadergrad train` as one rank of an MPI job (`mpirun -np 4 shadergrad train ...`, built
//! with `--features mpi`): the ranks check they were given the same flags, each takes the
//! device of its local rank, and a failure ends every rank, never leaving one waiting.

use std::process::ExitCode;
use std::rc::Rc;

use shadergrad::group::{Mpi, ProcessGroup};
use shadergrad::{Error, Result};

use crate::cli::train::{self, Ranks, TrainArgs};

/// Trains as this rank of `mpi`'s job. Errors are printed here: once (by rank 0) when every
/// rank failed alike, by each failing rank otherwise; a failure the other ranks did not share
/// aborts the job, since they may be waiting for this rank in a collective.
pub fn train(a: &TrainArgs, mpi: Mpi) -> Result<ExitCode> {
    let mpi = Rc::new(mpi);
    let (rank, lead) = (mpi.rank(), mpi.rank() == 0);
    if let Some(odd) = other_flags(&*mpi)? {
        if lead {
            eprintln!(
                "error: MPI rank(s) {odd} were started with other flags than rank 0 (`{}`): every rank of a run \
                 must be started with the same command",
                std::env::args().skip(1).collect::<Vec<_>>().join(" ")
            );
        }
        return Ok(ExitCode::from(2));
    }
    let ranks = Ranks {
        group: Rc::clone(&mpi) as Rc<dyn ProcessGroup>,
        local_rank: mpi.local_rank(),
        agreed_failure: Default::default(),
    };
    let result = train::train(a, Some(&ranks));
    let Err(e) = result else {
        return result;
    };
    // Said once, by rank 0: a non-finite loss (the loss is summed across the ranks, so every
    // rank sees it), a disagreement the ranks found together, a start every rank failed
    // alike. Said by the rank itself: its own failure to start, which the others know of.
    // Anything else is this rank's alone while the others may be waiting for it: abort.
    let whose = if lead {
        String::new()
    } else {
        format!(" (MPI rank {rank})")
    };
    let once = matches!(e, Error::NonFinite(_) | Error::Ranks(_)) || ranks.agreed_failure.get() == Some(true);
    if once {
        if lead {
            eprintln!("error: {e}");
        }
        return Ok(ExitCode::FAILURE);
    }
    eprintln!("error{whose}: {e}");
    if ranks.agreed_failure.get().is_some() {
        return Ok(ExitCode::FAILURE);
    }
    eprintln!("shadergrad: stopping every MPI rank");
    mpi.abort(1)
}

/// The ranks (as `1, 3`) whose command line differs from rank 0's, if any: decided on rank 0's
/// flags, broadcast to all, so every rank refuses alike.
fn other_flags(group: &dyn ProcessGroup) -> Result<Option<String>> {
    let mine = std::env::args().skip(1).collect::<Vec<_>>().join("\0").into_bytes();
    let mut first = mine.clone();
    group.broadcast(&mut first)?;
    let mut differs = vec![0.0f32; group.size()];
    differs[group.rank()] = f32::from(u8::from(first != mine));
    group.sum(&mut differs)?;
    let odd: Vec<String> = (0..group.size())
        .filter(|&r| differs[r] > 0.0)
        .map(|r| r.to_string())
        .collect();
    Ok((!odd.is_empty()).then(|| odd.join(", ")))
}
