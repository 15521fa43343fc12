//! Processes that train one model together, data-parallel: each holds a replica, takes its share
//! of every batch, and the processes sum their gradients with one collective per step. The
//! [`ProcessGroup`] trait is what a [`Trainer`](crate::training::train::Trainer) needs of them; MPI ranks
//! (`--features mpi`, `Mpi`) are the group it ships with.

use crate::engine::error::Result;

/// Processes training one model together, numbered `0..size()`.
///
/// Every process must call [`ProcessGroup::sum`] and [`ProcessGroup::broadcast`] the same number
/// of times in the same order (they are collectives: each waits for all).
///
/// ```
/// use shadergrad::group::ProcessGroup;
/// /// A group of one: the sum of one process's values is its values.
/// struct Alone;
/// impl ProcessGroup for Alone {
///     fn rank(&self) -> usize { 0 }
///     fn size(&self) -> usize { 1 }
///     fn sum(&self, _values: &mut [f32]) -> shadergrad::Result<()> { Ok(()) }
///     fn broadcast(&self, _bytes: &mut Vec<u8>) -> shadergrad::Result<()> { Ok(()) }
/// }
/// let mut v = [1.0, 2.0];
/// Alone.sum(&mut v)?;
/// assert_eq!((Alone.rank(), Alone.size(), v), (0, 1, [1.0, 2.0]));
/// # Ok::<(), shadergrad::Error>(())
/// ```
pub trait ProcessGroup {
    /// This process's number.
    fn rank(&self) -> usize;
    /// How many processes there are.
    fn size(&self) -> usize;
    /// Replaces `values` by their element-wise sum over every process (the same length on
    /// each), the same sum on all.
    fn sum(&self, values: &mut [f32]) -> Result<()>;
    /// Replaces `bytes` by process 0's on every process.
    fn broadcast(&self, bytes: &mut Vec<u8>) -> Result<()>;
}

#[cfg(feature = "mpi")]
pub use self::mpi_ranks::Mpi;

#[cfg(feature = "mpi")]
mod mpi_ranks {
    use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
    use mpi::topology::{Communicator, SimpleCommunicator};

    use crate::engine::error::Result;
    use crate::training::group::ProcessGroup;

    /// The ranks of an MPI job (`mpirun -np 4 shadergrad train ...`), over the system's Open
    /// MPI or MPICH. Dropping it finalises MPI, which every rank must then do too.
    pub struct Mpi {
        world: SimpleCommunicator,
        local_rank: usize,
        /// The sum arrives here (rsmpi offers no `MPI_IN_PLACE`, whose value differs between
        /// Open MPI and MPICH), kept to reuse its memory.
        received: std::cell::RefCell<Vec<f32>>,
        // Last: finalises MPI after the communicator above is gone.
        _universe: mpi::environment::Universe,
    }

    /// Variables that MPI launchers set in every process they start: Open MPI, MPICH and
    /// Intel MPI (through Hydra's PMI), PMIx, MVAPICH.
    const LAUNCHED: [&str; 5] = [
        "OMPI_COMM_WORLD_SIZE",
        "PMI_SIZE",
        "PMIX_RANK",
        "MV2_COMM_WORLD_SIZE",
        "MPI_LOCALNRANKS",
    ];

    impl Mpi {
        /// MPI, when an MPI launcher started this process; `None` in a plain run (which then
        /// needs no MPI at all) and in a job of one rank.
        pub fn from_launcher() -> Result<Option<Mpi>> {
            if !LAUNCHED.iter().any(|v| std::env::var_os(v).is_some()) {
                return Ok(None);
            }
            let universe = mpi::initialize().ok_or_else(|| {
                crate::engine::error::Error::invalid("MPI", "already initialised", "one initialisation per process")
            })?;
            let world = universe.world();
            if world.size() == 1 {
                return Ok(None);
            }
            // Ranks on one host share its GPUs: their order there picks each one's device.
            let local_rank = world.split_shared(world.rank()).rank() as usize;
            Ok(Some(Mpi {
                world,
                local_rank,
                received: Default::default(),
                _universe: universe,
            }))
        }

        /// This rank's place among the ranks on its host.
        pub fn local_rank(&self) -> usize {
            self.local_rank
        }

        /// Ends every rank of the job with `code` (for a failure the others may not share:
        /// finalising would wait for them forever).
        pub fn abort(&self, code: i32) -> ! {
            self.world.abort(code)
        }
    }

    impl ProcessGroup for Mpi {
        fn rank(&self) -> usize {
            self.world.rank() as usize
        }

        fn size(&self) -> usize {
            self.world.size() as usize
        }

        fn sum(&self, values: &mut [f32]) -> Result<()> {
            let mut received = self.received.borrow_mut();
            received.resize(values.len(), 0.0);
            self.world
                .all_reduce_into(&*values, &mut received[..], SystemOperation::sum());
            values.copy_from_slice(&received);
            Ok(())
        }

        fn broadcast(&self, bytes: &mut Vec<u8>) -> Result<()> {
            let root = self.world.process_at_rank(0);
            let mut len = bytes.len() as u64;
            root.broadcast_into(&mut len);
            bytes.resize(len as usize, 0);
            root.broadcast_into(&mut bytes[..]);
            Ok(())
        }
    }
}
