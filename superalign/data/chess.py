"""Chess: is a candidate move the puzzle's solution? Lichess puzzles (database.lichess.org,
CC0), a binary stand-in for the generative chess-puzzle task of the W2S paper (Burns et al. 2023).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..errors import ConfigError, DataError
from .base import Dataset, SplitSizes, register_task
from .prep import balanced_flags, majority_dedup, task_rng
from .sources import HubSource, LocalFiles, SourcedTask, require_columns

if TYPE_CHECKING:  # annotations only: pandas is imported where a table is read
    import pandas as pd


@register_task("chess")
@dataclass
class ChessTask(SourcedTask):
    """Position + candidate move -> 1 the puzzle's best move / 0 a random other legal move.

    Lichess format: ``Moves`` (UCI) starts with the opponent's move, applied to ``FEN``; the next
    move is the solver's best move. One example per puzzle, a seeded balanced coin choosing the
    best move or a uniformly random other legal move (``python-chess``; when the best move mates,
    other mating moves are excluded, since Lichess accepts any mate). Format:
    ``"Position (FEN): {fen}\\nLast move: {move}\\nCandidate move: {move}"``, moves in standard
    algebraic notation (``notation="san"``), whose ``x`` / ``+`` / ``#`` marks are part of what a
    player reads and a strong hint here (puzzle solutions often capture, check or mate), or in
    UCI (``notation="uci"``, e.g. ``d6h2``), which hides them.
    The paper's own task is generative (predict the move from the game so far); this one asks
    the same knowledge as a yes/no question.
    """

    seed: int = 0
    notation: str = "san"

    name: ClassVar[str] = "chess"
    label_names: ClassVar[tuple[str, str]] = ("a random legal move", "the best move")
    description: ClassVar[str] = "position + candidate move -> the puzzle's best move / a random legal move (Lichess)"
    local: ClassVar[LocalFiles] = LocalFiles(("lichess_puzzles/lichess_db_puzzle_subset.csv",))
    # The full hub set has ~5M puzzles; the first 20,000 are plenty for this task.
    hub: ClassVar[HubSource] = HubSource("Lichess/chess-puzzles", split="train[:20000]")
    default_sizes: ClassVar[SplitSizes] = SplitSizes(train_gt=300, train_w2s=600, val=50, test=500)  # 1,499 puzzles

    def build(self, table: pd.DataFrame) -> Dataset:
        import chess

        require_columns(self.name, table, ("FEN", "Moves"))
        if self.notation not in ("san", "uci"):
            raise ConfigError(f"chess notation must be 'san' or 'uci', not {self.notation!r}")
        best = balanced_flags(len(table), self.seed)
        rng = task_rng(self.seed, "wrong candidate")
        texts, labels = [], []
        for i, (fen, moves) in enumerate(zip(table["FEN"], table["Moves"])):
            try:
                board = chess.Board(str(fen))
                uci = str(moves).split()
                last = chess.Move.from_uci(uci[0])
                last_text = board.san(last) if self.notation == "san" else last.uci()
                board.push(last)
                solution = chess.Move.from_uci(uci[1])
                if solution not in board.legal_moves:
                    raise ValueError(f"illegal solution move {uci[1]}")
            except (ValueError, IndexError) as e:
                raise DataError(f"task {self.name!r}: puzzle {i}: bad FEN/Moves ({e})") from None
            move = solution
            if not best[i]:
                mate = _gives_mate(board, solution)
                others = [m for m in board.legal_moves if m != solution and not (mate and _gives_mate(board, m))]
                if not others:  # the solution is the only (mating) legal move: nothing to contrast
                    continue
                move = others[rng.integers(len(others))]
            shown = board.san(move) if self.notation == "san" else move.uci()
            texts.append(f"Position (FEN): {board.fen()}\nLast move: {last_text}\nCandidate move: {shown}")
            labels.append(int(best[i]))
        return majority_dedup(texts, labels)


def _gives_mate(board, move) -> bool:
    board.push(move)
    try:
        return board.is_checkmate()
    finally:
        board.pop()
