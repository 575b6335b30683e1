"""Writes the rows of a dataport customers CSV the way other tools would, for bench/run.sh.

    python3 bench/thirdparty.py INPUT.csv OUT_DIR

OUT_DIR gets:
- py.csv                  Python's csv module (UTF-8 without a BOM, minimal quoting);
- xlsxwriter-inline.xlsx  XlsxWriter in constant_memory mode (inline strings, row by row);
- xlsxwriter-shared.xlsx  XlsxWriter's default mode (a shared-string table, as Excel writes);
- openpyxl.xlsx           openpyxl in write_only mode (openpyxl 3.1 writes inline strings).

Amounts (合同金额) become numbers in the workbooks, everything else text, as a user's
script or spreadsheet would have them. Needs XlsxWriter and openpyxl (pip install).
"""

import csv
import os
import sys
import time

import openpyxl
import xlsxwriter

AMOUNT = "合同金额"


def rows(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader)
        amount = header.index(AMOUNT)
        yield header, amount
        for row in reader:
            yield row


def typed(row, amount):
    cells = list(row)
    if cells[amount]:
        cells[amount] = float(cells[amount])
    return cells


def write_csv(src, out):
    it = rows(src)
    header, _ = next(it)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(it)


def write_xlsxwriter(src, out, constant_memory):
    it = rows(src)
    header, amount = next(it)
    wb = xlsxwriter.Workbook(out, {"constant_memory": constant_memory})
    ws = wb.add_worksheet("客户")
    ws.write_row(0, 0, header)
    for r, row in enumerate(it, start=1):
        for c, value in enumerate(typed(row, amount)):
            if value != "":
                ws.write(r, c, value)
    wb.close()


def write_openpyxl(src, out):
    it = rows(src)
    header, amount = next(it)
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("客户")
    ws.append(header)
    for row in it:
        ws.append([None if v == "" else v for v in typed(row, amount)])
    wb.save(out)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out_dir = sys.argv[1], sys.argv[2]
    for name, write in [
        ("py.csv", write_csv),
        ("xlsxwriter-inline.xlsx", lambda s, o: write_xlsxwriter(s, o, True)),
        ("xlsxwriter-shared.xlsx", lambda s, o: write_xlsxwriter(s, o, False)),
        ("openpyxl.xlsx", write_openpyxl),
    ]:
        started = time.monotonic()
        write(src, os.path.join(out_dir, name))
        print(f"wrote {name} in {time.monotonic() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
