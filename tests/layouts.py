"""CSV files of bars in vendors' layouts: one table that `load_bars`' tests and the paper feeds' tests both
read, so a file loads and feeds the same bars."""

from __future__ import annotations

from pathlib import Path

LAYOUTS = {
    "yahoo": (
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2018-01-02,1.2,1.3,1.1,1.25,1.25,100\n2018-01-03,1.2,1.3,1.1,1.25,1.25,100\n",
        "2018-01-03",
    ),
    "stooq": (
        "Date,Open,High,Low,Close,Volume\n2018-01-02,1.2,1.3,1.1,1.25,100\n2018-01-03,1.2,1.3,1.1,1.25,100\n",
        "2018-01-03",
    ),
    "stooq-bulk": (
        "<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>\n"
        "AAPL.US,5,20180102,093000,1.2,1.3,1.1,1.25,100,0\n"
        "AAPL.US,5,20180102,093500,1.2,1.3,1.1,1.25,100,0\n",
        "2018-01-02 09:35",
    ),
    "backtrader": (
        "Date,Open,High,Low,Close,Volume,OpenInterest\n"
        "2018-01-02,1.2,1.3,1.1,1.25,100,0\n2018-01-03,1.2,1.3,1.1,1.25,100,0\n",
        "2018-01-03",
    ),
    "backtrader-time": (
        "Date,Time,Open,High,Low,Close,Volume,OpenInterest\n"
        "2018-01-02,09:05:00,1.2,1.3,1.1,1.25,100,0\n"
        "2018-01-02,09:10:00,1.2,1.3,1.1,1.25,100,0\n",
        "2018-01-02 09:10",
    ),
    "backtrader-minutes": (
        "Date,Open,High,Low,Close,Volume,OpenInterest\n"  # rows carry a time the header omits
        "2018-01-02,09:01:00,1.2,1.3,1.1,1.25,100,0\n"
        "2018-01-02,09:02:00,1.2,1.3,1.1,1.25,100,0\n",
        "2018-01-02 09:02",
    ),
    "metatrader5": (
        "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
        "2018.01.02\t00:00:00\t1.2\t1.3\t1.1\t1.25\t100\t0\t12\n"
        "2018.01.02\t00:15:00\t1.2\t1.3\t1.1\t1.25\t100\t0\t12\n",
        "2018-01-02 00:15",
    ),
    "metatrader5-daily": (
        "<DATE>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
        "2018.01.02\t1.2\t1.3\t1.1\t1.25\t100\t0\t12\n"
        "2018.01.03\t1.2\t1.3\t1.1\t1.25\t100\t0\t12\n",
        "2018-01-03",
    ),
    "metatrader4": (
        "Date,Time,Open,High,Low,Close,Volume\n"
        "2018.01.02,00:00,1.2,1.3,1.1,1.25,100\n2018.01.02,00:01,1.2,1.3,1.1,1.25,100\n",
        "2018-01-02 00:01",
    ),
    "lower-case": (
        "date,open,high,low,close,volume\n2018-01-02,1.2,1.3,1.1,1.25,100\n2018-01-03,1.2,1.3,1.1,1.25,100\n",
        "2018-01-03",
    ),
    "upper-case": (
        "DATE,OPEN,HIGH,LOW,CLOSE,VOLUME\n2018-01-02,1.2,1.3,1.1,1.25,100\n2018-01-03,1.2,1.3,1.1,1.25,100\n",
        "2018-01-03",
    ),
    "datetime-with-offsets": (
        "Datetime,Open,High,Low,Close,Volume\n"  # to UTC, across a DST change
        "2018-03-09 09:30:00-05:00,1.2,1.3,1.1,1.25,100\n"
        "2018-03-12 09:30:00-04:00,1.2,1.3,1.1,1.25,100\n",
        "2018-03-12 13:30",
    ),
    "epoch-timestamp": (
        "timestamp,open,high,low,close,volume\n1514851200,1.2,1.3,1.1,1.25,100\n1514851260,1.2,1.3,1.1,1.25,100\n",
        "2018-01-02 00:01",
    ),
    "time-semicolons-bom": (
        "\ufeffTime;Open;High;Low;Close;Volume\n"
        "2018-01-02 10:00;1.2;1.3;1.1;1.25;100\n2018-01-02 11:00;1.2;1.3;1.1;1.25;100\n",
        "2018-01-02 11:00",
    ),
}
"""{layout: (the file's text, its second bar's time)}: two bars each, 2018-01-02 and the next bar, open 1.2,
high 1.3, low 1.1, close 1.25, volume 100."""


def layout_file(folder: Path, layout: str) -> Path:
    """The CSV file of `layout` written in `folder` (as bars.csv)."""
    path = folder / "bars.csv"
    path.write_text(LAYOUTS[layout][0], encoding="utf-8")
    return path
