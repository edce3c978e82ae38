"""`tail:FILE.csv`: a CSV file that another process appends bars to, followed as `tail -f` follows a log.

The feed reads the rows that have appeared since it last looked, every `poll` seconds. Only complete
lines count: a last line without its newline is a row still being written, read once its newline
comes. The file need not exist when the run starts (the feed waits for it, header first) and must only
ever grow: a file that shrinks (truncated or replaced) stops the run with an error, since rows already
journaled could no longer be told from new ones. A row's number is its line in the file, as for a
replay, so a resumed run skips the lines up to the last one journaled and goes on after it.

A tail feed ends when the run is asked to stop or after `idle` seconds without a new line (see
`signalstack.paper.feeds`); without `idle` it waits for rows until then.
"""

from __future__ import annotations

import collections
import logging
import time

from signalstack.core.bars import BarLayout, BarsError, RawBar

from .feeds import LiveFeed

log = logging.getLogger(__name__)


class TailFeed(LiveFeed):
    """A growing CSV file as a live Backtrader feed; params: `LiveFeed`'s and `poll` (seconds between looks
    at the file while it has nothing new)."""

    params = (("poll", 0.05),)

    def start(self) -> None:
        super().start()
        self._offset = 0  # bytes of the file read so far: whole lines only
        self._line = 0  # lines read so far
        self._layout: BarLayout | None = None
        self._pending: collections.deque[RawBar] = collections.deque()

    def _waiting(self) -> bool:
        return bool(self._pending)

    def _arrive(self) -> bool | None:
        while True:
            if not self._pending:
                self._pending.extend(self._read_new())
            if not self._pending:
                time.sleep(self.p.poll)
                return None
            raw = self._pending.popleft()
            if self._admit(raw) is None:
                self._deliver(raw.time, raw.values, self._is_live(raw.time))
                return True

    def _read_new(self) -> list[RawBar]:
        """The rows of the lines completed since the last look (none while the file does not exist)."""
        path = self.p.spec.path
        try:
            with path.open("rb") as fh:
                size = fh.seek(0, 2)
                if size < self._offset:
                    raise BarsError(
                        f"{path}: shrank from {self._offset} to {size} bytes while followed by "
                        f"{self._symbol}'s tail feed; expected a file that rows are only appended to"
                    )
                fh.seek(self._offset)
                chunk = fh.read(size - self._offset)
        except FileNotFoundError:
            if self._offset:
                raise BarsError(
                    f"{path}: removed while followed by {self._symbol}'s tail feed; expected a file "
                    "that rows are only appended to"
                ) from None
            return []
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a last line without its newline is still being written
        self._offset += len(complete)
        rows = []
        for line in complete.split(b"\n")[:-1]:
            self._line += 1
            text = line.decode("utf-8-sig" if self._line == 1 else "utf-8", errors="replace").rstrip("\r")
            if self._layout is None:
                self._layout = BarLayout.from_header(text, str(path))
            elif self._line > self.p.after_row and (raw := self._layout.parse_line(text, self._line)) is not None:
                if not raw.empty:  # as a replay of the file skips it
                    rows.append(raw)
        if rows:
            log.debug("%s: %d new row(s) in %s", self._symbol, len(rows), path.name)
        return rows
