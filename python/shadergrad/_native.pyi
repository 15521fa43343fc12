"""Type stubs of the native module (the shadergrad crate, through PyO3)."""
from typing import Optional, Sequence

class Outcome:
    loss_curve: list[float]
    validation_scores: list[float]
    best_loss: float
    best_validation_score: float
    no_improvement: int
    epochs: int
    converged: bool

class Learner:
    device: str
    fitted: bool
    def __init__(self, device: str = "auto", f64: bool = False) -> None: ...
    def fit(
        self,
        config: str,
        task_word: str,
        x: object,
        y: object,
        k: int,
        labels: Sequence[float],
        names: Sequence[str],
        weight: Optional[object] = None,
        val: Optional[tuple[object, object]] = None,
        schedule: Optional[str] = None,
        warm: bool = False,
        categorical: Sequence[str] = ...,
        na: Optional[Sequence[str]] = None,
    ) -> Outcome: ...
    def predict(self, x: object) -> tuple[bytes, int, str]: ...
    def info(self) -> str: ...
    def to_onnx(self) -> bytes: ...
    def to_bytes(self) -> tuple[bytes, Optional[bytes]]: ...
    @staticmethod
    def from_bytes(
        model: bytes, resume: Optional[bytes] = None, name: str = "the model", device: str = "auto", f64: bool = False
    ) -> Learner: ...

def grad(expression: str, at: Sequence[tuple[str, float]], svg: Optional[str] = None) -> tuple[float, list[tuple[str, float]]]: ...
def devices() -> list[str]: ...
