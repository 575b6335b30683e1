#!/usr/bin/env python3
"""Regenerates tests/third_party: files written by third-party tools, and manifest.tsv.

The csv and xlsx plugins' tests (plugins/csv/tests/csv.rs, plugins/xlsx/tests/xlsx.rs) read
manifest.tsv and run every file in it natively and through the loaded plugin (issue 15).

Writers: Python's csv module in several encodings, openpyxl, XlsxWriter, LibreOffice headless
(`soffice --headless --convert-to xlsx`, when installed: apt-get install libreoffice-calc-nogui)
and hand-built zip archives (zipfile) for the layouts of other writers and for hostile files.

    pip install openpyxl XlsxWriter
    python3 tests/third_party/make.py            # rewrites csv/, xlsx/ and manifest.tsv

xlsx/dataport-template.xlsx is the customers import template as the server writes it; set
DATAPORT_TEMPLATE to a fresh `dataport template customers -o FILE` to replace it first.

Without LibreOffice the LibreOffice files are kept as they are (they are committed) and the
script says so. Every file stays well under 1 MB; the 2 GiB inline-string bomb is stored
gzip-compressed (`.xlsx.gz`, the tests gunzip it in memory).

manifest.tsv columns (tab-separated; `-` for none):
    file      path under tests/third_party
    options   plugin options, `key=value` separated by `,`
    outcome   rows | header | error:ENCODING | error:MALFORMED_FILE | error:INVALID_OPTION
    count     rows: data rows, or `rows+row_errors`; otherwise `-`
    fragments ` && `-separated; rows: each is exactly the text of a header label or a cell (so a
              mis-decoded file fails); header: each is in the customers header message (zh-CN or
              en) the core gives for the file's header; error: each is in the error message
Every error must come within a second (the hostile files included).
"""

import csv
import gzip
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile

import openpyxl
import xlsxwriter

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = []


def expect(path, outcome, count="-", fragments=(), options="-"):
    MANIFEST.append((path, options, outcome, str(count), " && ".join(fragments) or "-"))


def out(path):
    full = os.path.join(HERE, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    return full


# ---- data ----

CUSTOMER_HEADER = [
    "客户编号", "客户名称", "所属行业", "联系电话", "负责人", "客户等级",
    "跟进状态", "客户地址", "合同金额", "跟进记录", "备注", "创建时间",
]
CUSTOMERS = [
    ["CUST001", "北京科技有限公司", "软件和信息技术服务", "13800000001", "张三", "VIP",
     "已成交", "北京市海淀区中关村大街1号", "120000.50", "多次拜访，已签约", "", "2024-03-01"],
    ["CUST002", "上海贸易有限公司", "批发", "13900000002", "李四", "重要",
     "跟进中", "上海市浦东新区世纪大道100号", "", "电话沟通", "老客户", "2024-03-02"],
    ["CUST003", "广州电子商务公司", "零售", "02012345678", "王五", "普通",
     "未跟进", "广东省广州市天河区天河路385号", "9800", "", "", "2024-03-03"],
]


def write_csv(path, encoding, header, rows, bom=""):
    """Python's csv module, as any script writing an export would use it."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    with open(out(path), "wb") as f:
        f.write((bom + buf.getvalue()).encode(encoding))


# ---- csv in several encodings ----

def csv_files():
    write_csv("csv/utf-8-bom.csv", "utf-8", CUSTOMER_HEADER, CUSTOMERS, bom="\ufeff")
    expect("csv/utf-8-bom.csv", "rows", 3, ["客户编号", "北京科技有限公司"])

    write_csv("csv/gbk.csv", "gbk", CUSTOMER_HEADER, CUSTOMERS)
    expect("csv/gbk.csv", "rows", 3, ["广州电子商务公司", "广东省广州市天河区天河路385号"])

    # Too little Chinese text to tell GBK from Big5, EUC-KR or windows-1252: refused, unless named.
    write_csv("csv/gbk-short.csv", "gbk", ["编号", "名称"], [["1", "北京"]])
    expect("csv/gbk-short.csv", "error:ENCODING", "-",
           ["cannot tell the file's text encoding", "GBK/GB18030", "-O encoding=", "无法确定文件的文字编码"])
    expect("csv/gbk-short.csv", "rows", 1, ["北京"], options="encoding=gbk")

    big5_rows = [
        ["C001", "台北科技有限公司", "陳大文", "台北市信義區信義路五段7號"],
        ["C002", "高雄貿易股份有限公司", "林小明", "高雄市前鎮區中華五路789號"],
        ["C003", "台中電子商務公司", "黃美玲", "台中市西屯區台灣大道三段99號"],
    ]
    write_csv("csv/big5.csv", "big5", ["客戶編號", "客戶名稱", "負責人", "地址"], big5_rows)
    expect("csv/big5.csv", "rows", 3, ["客戶名稱", "高雄貿易股份有限公司", "林小明"])

    sjis_rows = [
        ["C001", "株式会社サンプル", "山田太郎", "東京都千代田区丸の内1丁目"],
        ["C002", "東京商事株式会社", "鈴木一郎", "大阪府大阪市北区梅田2丁目"],
        ["C003", "横浜システム", "佐藤花子", "神奈川県横浜市西区みなとみらい"],
    ]
    write_csv("csv/shift_jis.csv", "shift_jis", ["顧客コード", "顧客名", "担当者", "住所"], sjis_rows)
    expect("csv/shift_jis.csv", "rows", 3, ["顧客コード", "株式会社サンプル", "神奈川県横浜市西区みなとみらい"])

    ko_rows = [["C001", "삼성전자", "김철수"], ["C002", "현대자동차", "이영희"], ["C003", "엘지화학", "박민수"]]
    write_csv("csv/euc-kr.csv", "euc-kr", ["고객번호", "고객명", "담당자"], ko_rows)
    expect("csv/euc-kr.csv", "rows", 3, ["고객명", "현대자동차"])

    western_header = ["Customer Code", "Customer Name", "Industry", "Phone", "Owner"]
    western = [
        ["K001", "Müller & Söhne GmbH", "Manufacturing", "+49 30 1234567", "Jürgen Müller"],
        ["K002", "Société Générale d'Équipement", "Retail", "+33 1 23456789", "Françoise Dupré"],
        ["K003", "Ibáñez y Cía", "Wholesale", "+34 91 5551234", "José Núñez"],
        ["K004", "Øresund Logistik A/S", "Logistics", "+45 33 123456", "Søren Kierkegård"],
        ["K005", "Zürcher Großhandel AG", "Wholesale", "+41 44 1234567", "Ærøskøbing Fähre"],
    ]
    write_csv("csv/windows-1252.csv", "cp1252", western_header, western)
    expect("csv/windows-1252.csv", "rows", 5, ["Jürgen Müller", "Zürcher Großhandel AG", "Françoise Dupré"])
    # `Müller Zürich` alone is valid GB18030 too (M黮ler Z黵ich): refused, never garbled.
    write_csv("csv/windows-1252-short.csv", "cp1252", ["name", "city"], [["Müller", "Zürich"]])
    expect("csv/windows-1252-short.csv", "error:ENCODING", "-",
           ["windows-1252", "GBK/GB18030", "-O encoding=windows-1252"])
    expect("csv/windows-1252-short.csv", "rows", 1, ["Müller", "Zürich"], options="encoding=windows-1252")

    # UTF-16 as Excel's "Unicode text" (LE, BOM, tabs) and without BOMs.
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter="\t", lineterminator="\r\n")
    writer.writerow(CUSTOMER_HEADER)
    writer.writerows(CUSTOMERS)
    text = buf.getvalue()
    for name, encoding, bom in [
        ("utf-16le-bom-tabs.csv", "utf-16-le", "\ufeff"),
        ("utf-16be-bom.csv", "utf-16-be", "\ufeff"),
        ("utf-16le-no-bom.csv", "utf-16-le", ""),
        ("utf-16be-no-bom.csv", "utf-16-be", ""),
    ]:
        with open(out(f"csv/{name}"), "wb") as f:
            f.write((bom + text).encode(encoding))
        expect(f"csv/{name}", "rows", 3, ["客户编号", "上海市浦东新区世纪大道100号"])

    # UTF-32 (with its BOM, which looks like UTF-16LE's followed by a NUL character): refused.
    with open(out("csv/utf-32le-bom.csv"), "wb") as f:
        f.write(("\ufeff" + text).encode("utf-32-le"))
    expect("csv/utf-32le-bom.csv", "error:ENCODING", "-", ["holds NUL bytes", "UTF-32", "含有 NUL 字节"])
    with open(out("csv/utf-32le-no-bom.csv"), "wb") as f:
        f.write(text.encode("utf-32-le"))
    expect("csv/utf-32le-no-bom.csv", "error:ENCODING", "-", ["holds NUL bytes"])

    # UTF-8 with one damaged byte: that row is a row error, the others import exactly.
    good = io.StringIO(newline="")
    csv.writer(good, lineterminator="\r\n").writerows([CUSTOMER_HEADER] + CUSTOMERS[:2])
    with open(out("csv/utf-8-damaged-row.csv"), "wb") as f:
        f.write(good.getvalue().encode("utf-8"))
        f.write("CUST009,坏".encode("utf-8") + b"\xff" + ",,,,,,,,,,\r\n".encode())
        f.write(",".join(CUSTOMERS[2]).encode("utf-8") + b"\r\n")
    expect("csv/utf-8-damaged-row.csv", "rows", "3+1", ["广州电子商务公司"])

    # An empty header cell, and an empty file.
    header = list(CUSTOMER_HEADER)
    header[1] = ""
    write_csv("csv/empty-header-cell.csv", "utf-8", header, CUSTOMERS, bom="\ufeff")
    expect("csv/empty-header-cell.csv", "header", "-", ["第2列没有表头", "column 2 has no header"])
    open(out("csv/empty.csv"), "wb").close()
    expect("csv/empty.csv", "header", "-", ["第1行为空：表头必须在第1行", "row 1 is empty: the header must be in row 1"])


# ---- xlsx by openpyxl and XlsxWriter ----

def openpyxl_files():
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "客户"
    ws.append(CUSTOMER_HEADER)
    for row in CUSTOMERS:
        ws.append(row)
    wb.save(out("xlsx/openpyxl.xlsx"))
    expect("xlsx/openpyxl.xlsx", "rows", 3, ["客户编号", "北京科技有限公司", "13800000001"])

    # Row 1 empty, the header in row 2.
    wb = openpyxl.Workbook()
    ws = wb.active
    for r, row in enumerate([CUSTOMER_HEADER] + CUSTOMERS, start=2):
        for c, value in enumerate(row, start=1):
            ws.cell(r, c, value)
    wb.save(out("xlsx/openpyxl-empty-first-row.xlsx"))
    expect("xlsx/openpyxl-empty-first-row.xlsx", "header", "-",
           ["第1行为空：表头必须在第1行", "row 1 is empty: the header must be in row 1"])

    # An empty first sheet, the data on the second.
    wb = openpyxl.Workbook()
    wb.active.title = "说明"
    ws = wb.create_sheet("客户")
    ws.append(CUSTOMER_HEADER)
    for row in CUSTOMERS:
        ws.append(row)
    wb.save(out("xlsx/openpyxl-empty-first-sheet.xlsx"))
    expect("xlsx/openpyxl-empty-first-sheet.xlsx", "error:MALFORMED_FILE", "-",
           ["sheet 1 「说明」 is empty; choose another with -O sheet=NAME", "第1个工作表「说明」是空的", "「客户」"])
    expect("xlsx/openpyxl-empty-first-sheet.xlsx", "rows", 3, ["上海贸易有限公司"], options="sheet=客户")

    # An empty header cell.
    wb = openpyxl.Workbook()
    ws = wb.active
    header = list(CUSTOMER_HEADER)
    header[1] = None
    ws.append(header)
    for row in CUSTOMERS:
        ws.append(row)
    wb.save(out("xlsx/openpyxl-empty-header-cell.xlsx"))
    expect("xlsx/openpyxl-empty-header-cell.xlsx", "header", "-", ["第2列没有表头", "column 2 has no header"])


def xlsxwriter_files():
    for name, options in [("xlsxwriter.xlsx", {}), ("xlsxwriter-constant-memory.xlsx", {"constant_memory": True})]:
        wb = xlsxwriter.Workbook(out(f"xlsx/{name}"), options)
        ws = wb.add_worksheet("客户")
        for r, row in enumerate([CUSTOMER_HEADER] + CUSTOMERS):
            for c, value in enumerate(row):
                ws.write_string(r, c, value)
        ws.write_comment(0, 0, "必填，唯一")
        wb.close()
        expect(f"xlsx/{name}", "rows", 3, ["客户编号", "广东省广州市天河区天河路385号"])


def long_strings():
    """Long repeated strings in the shared strings, as an Excel-for-Mac workbook of notes: a
    few hundred KB that expand more than 100-fold, followed by ordinary numbers. Refused as a
    zip bomb before issue 15; the workbook expands to some 20 MB, far below the 100 MiB past
    which the ratio counts."""
    path = out("xlsx/excel-mac-long-strings.xlsx")
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("Notes")
    ws.write_row(0, 0, ["Code", "Note", "Amount", "Count", "Ratio"])
    phrase = "Customer visit report: discussed renewal terms, pricing and delivery schedule. "
    rng = random.Random(15)
    rows = 640
    for r in range(1, rows + 1):
        note = (phrase * 420)[: 32000 - 10] + f" #{r:06d}"
        ws.write_string(r, 0, f"LS{r:04d}")
        ws.write_string(r, 1, note)
        ws.write_number(r, 2, rng.randrange(10**11) / 100)
        ws.write_number(r, 3, rng.randrange(10**9))
        ws.write_number(r, 4, rng.random())
    # Ordinary, hardly compressible data below, as a real workbook has.
    for r in range(rows + 1, rows + 1 + 16500):
        ws.write_string(r, 0, f"LS{r:05d}")
        ws.write_number(r, 2, rng.randrange(10**11) / 100)
        ws.write_number(r, 3, rng.randrange(10**9))
        ws.write_number(r, 4, rng.random())
    wb.close()
    expect("xlsx/excel-mac-long-strings.xlsx", "rows", rows + 16500, ["LS0001", "LS17140"])


# ---- LibreOffice ----

def soffice_convert(src, dest, infilter=None):
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        args = [soffice, "--headless", f"-env:UserInstallation=file://{tmp}/profile", "--convert-to", "xlsx",
                "--outdir", tmp]
        if infilter:
            args += ["--infilter=" + infilter]
        subprocess.run(args + [src], check=True, capture_output=True, timeout=300)
        produced = os.path.join(tmp, os.path.splitext(os.path.basename(src))[0] + ".xlsx")
        shutil.copyfile(produced, dest)
    return True


def rezip(src, dest, edit):
    """Copies an archive, passing each part through `edit(name, bytes) -> bytes`."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, edit(info.filename, zin.read(info.filename)))


def libreoffice_files():
    template = out("xlsx/dataport-template.xlsx")
    if os.environ.get("DATAPORT_TEMPLATE"):
        # `dataport template customers -o …` from a running server.
        shutil.copyfile(os.environ["DATAPORT_TEMPLATE"], template)
    expect("xlsx/dataport-template.xlsx", "rows", 0, ["客户编号", "创建时间"])

    with tempfile.TemporaryDirectory() as tmp:
        filled = os.path.join(tmp, "dataport-template-filled.xlsx")
        wb = openpyxl.load_workbook(template)
        ws = wb.worksheets[0]
        for r, row in enumerate(CUSTOMERS, start=2):
            for c, value in enumerate(row, start=1):
                ws.cell(r, c, value)
        wb.save(filled)
        customers_csv = os.path.join(tmp, "customers.csv")
        with open(customers_csv, "w", encoding="utf-8", newline="") as f:
            csv.writer(f, lineterminator="\r\n").writerows([CUSTOMER_HEADER] + CUSTOMERS)
        converted = all([
            soffice_convert(template, out("xlsx/libreoffice-template.xlsx")),
            soffice_convert(filled, out("xlsx/libreoffice-template-filled.xlsx")),
            # 44: comma, 34: quote, 76: UTF-8, 1: from line 1; all columns as text (2).
            soffice_convert(customers_csv, out("xlsx/libreoffice-csv.xlsx"),
                            "CSV:44,34,76,1,1/2/2/2/3/2/4/2/5/2/6/2/7/2/8/2/9/2/10/2/11/2/12/2"),
        ])
    if not converted:
        print("LibreOffice (soffice) not found: keeping the committed libreoffice-*.xlsx", file=sys.stderr)
    expect("xlsx/libreoffice-template.xlsx", "rows", 0, ["客户编号", "创建时间"])
    expect("xlsx/libreoffice-template-filled.xlsx", "rows", 3, ["北京科技有限公司", "13800000001"])
    expect("xlsx/libreoffice-csv.xlsx", "rows", 3, ["客户编号", "02012345678", "广东省广州市天河区天河路385号"])

    # LibreOffice (older versions, files first saved as .xls) declares `A1:AH65536` and writes
    # empty, formatted rows down to the last one; Gnumeric declares the whole grid.
    trailing = (
        b'<row r="1048575" customFormat="false" ht="12.8" hidden="false" customHeight="false" '
        b'outlineLevel="0" collapsed="false"><c r="A1048575" s="0"/><c r="AH1048575" s="0"/></row>'
        b'<row r="1048576" customFormat="false" ht="12.8" hidden="false" customHeight="false" '
        b'outlineLevel="0" collapsed="false"/>'
    )
    for name, dimension in [("libreoffice-style-a1-ah65536.xlsx", b"A1:AH65536"),
                            ("gnumeric-style-a1-xfd1048576.xlsx", b"A1:XFD1048576")]:
        def edit(part, data, dimension=dimension):
            if part != "xl/worksheets/sheet1.xml":
                return data
            start = data.index(b'<dimension ref="') + len(b'<dimension ref="')
            data = data[:start] + dimension + data[data.index(b'"', start):]
            return data.replace(b"</sheetData>", trailing + b"</sheetData>")
        rezip(out("xlsx/libreoffice-template-filled.xlsx"), out(f"xlsx/{name}"), edit)
        expect(f"xlsx/{name}", "rows", 3, ["北京科技有限公司", "广州电子商务公司"])


# ---- hand-built archives ----

RELS = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
WORKBOOK = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
WORKBOOK_RELS = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
CONTENT_TYPES = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/></Types>'


def sheet(rows, dimension=None, prologue=b""):
    dim = b'<dimension ref="%s"/>' % dimension if dimension else b""
    return (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + prologue +
            b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">' + dim +
            b"<sheetData>" + rows + b"</sheetData></worksheet>")


def inline_rows(rows):
    out_rows = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, value in enumerate(row):
            ref = "%s%d" % (chr(ord("A") + c), r)
            if value:
                text = value.replace("&", "&amp;").replace("<", "&lt;")
                cells.append('<c r="%s" t="inlineStr"><is><t>%s</t></is></c>' % (ref, text))
        out_rows.append('<row r="%d">%s</row>' % (r, "".join(cells)))
    return "".join(out_rows).encode("utf-8")


GOOD_SHEET = sheet(inline_rows([CUSTOMER_HEADER] + CUSTOMERS), b"A1:L4")


def handmade(path, parts):
    with zipfile.ZipFile(out(path), "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts:
            z.writestr(name, data)


def base_parts(sheet_xml=GOOD_SHEET, sst=None, workbook_rels=WORKBOOK_RELS):
    parts = [("[Content_Types].xml", CONTENT_TYPES), ("_rels/.rels", RELS), ("xl/workbook.xml", WORKBOOK)]
    if workbook_rels is not None:
        parts.append(("xl/_rels/workbook.xml.rels", workbook_rels))
    parts.append(("xl/worksheets/sheet1.xml", sheet_xml))
    if sst is not None:
        parts.append(("xl/sharedStrings.xml", sst))
    return parts


def hostile_files():
    handmade("xlsx/handmade-inline-strings.xlsx", base_parts())
    expect("xlsx/handmade-inline-strings.xlsx", "rows", 3, ["北京科技有限公司"])

    # Two parts whose names differ only in case; the empty one is the one calamine would read.
    handmade("xlsx/case-duplicate-parts.xlsx", base_parts() + [("xl/worksheets/Sheet1.xml", b"")])
    expect("xlsx/case-duplicate-parts.xlsx", "error:MALFORMED_FILE", "-",
           ["differ only in case", "`xl/worksheets/sheet1.xml`", "`xl/worksheets/Sheet1.xml`", "仅大小写不同"])

    doctype_message = ("the workbook declares XML entities (DOCTYPE), which spreadsheets never need; "
                       "refused as a possible XML bomb")
    lol = [b'<!ENTITY lol "lol">'] + [
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%s;" % (b"" if i == 1 else str(i - 1).encode())) * 10)
        for i in range(1, 10)
    ]
    laughs = (b'<?xml version="1.0"?>\n<!DOCTYPE sst [' + b"".join(lol) + b']>'
              b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
              b"<si><t>&lol9;</t></si></sst>")
    sst_sheet = sheet(b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>')
    handmade("xlsx/billion-laughs-shared-strings.xlsx", base_parts(sst_sheet, laughs))
    expect("xlsx/billion-laughs-shared-strings.xlsx", "error:MALFORMED_FILE", "-",
           [doctype_message, "`xl/sharedStrings.xml`", "XML 炸弹"])
    xxe = sheet(b'<row r="1"><c r="A1" t="inlineStr"><is><t>&xxe;</t></is></c></row>',
                prologue=b'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>')
    handmade("xlsx/external-entity-sheet.xlsx", base_parts(xxe))
    expect("xlsx/external-entity-sheet.xlsx", "error:MALFORMED_FILE", "-",
           [doctype_message, "`xl/worksheets/sheet1.xml`"])
    undefined = sheet(b'<row r="1"><c r="A1" t="inlineStr"><is><t>a &nbsp; b</t></is></c></row>')
    handmade("xlsx/undefined-entity.xlsx", base_parts(undefined))
    expect("xlsx/undefined-entity.xlsx", "error:MALFORMED_FILE", "-", ["`&nbsp;`", "not defined"])

    handmade("xlsx/truncated-sheet-xml.xlsx", base_parts(GOOD_SHEET[: len(GOOD_SHEET) * 2 // 3]))
    expect("xlsx/truncated-sheet-xml.xlsx", "error:MALFORMED_FILE", "-",
           ["`xl/worksheets/sheet1.xml` (the data of sheet 「Sheet1」) ends before its XML is complete", "被截断"])
    with open(out("xlsx/openpyxl.xlsx"), "rb") as f:
        whole = f.read()
    with open(out("xlsx/truncated-download.xlsx"), "wb") as f:
        f.write(whole[: len(whole) // 2])
    expect("xlsx/truncated-download.xlsx", "error:MALFORMED_FILE", "-",
           ["not an xlsx file (zip archive)", "central directory", "中央目录"])

    handmade("xlsx/broken-workbook-rels.xlsx", base_parts(workbook_rels=WORKBOOK_RELS[:150] + b"<<>"))
    expect("xlsx/broken-workbook-rels.xlsx", "error:MALFORMED_FILE", "-",
           ["`xl/_rels/workbook.xml.rels` (the relationships that say where the workbook's parts are)",
            "部件关系表"])
    handmade("xlsx/missing-workbook-rels.xlsx", base_parts(workbook_rels=None))
    expect("xlsx/missing-workbook-rels.xlsx", "error:MALFORMED_FILE", "-",
           ["the archive has no `xl/_rels/workbook.xml.rels`", "缺少"])
    wrong_id = WORKBOOK_RELS.replace(b'Id="rId1"', b'Id="rId9"')
    handmade("xlsx/sheet-without-relationship.xlsx", base_parts(workbook_rels=wrong_id))
    expect("xlsx/sheet-without-relationship.xlsx", "error:MALFORMED_FILE", "-",
           ["sheet 「Sheet1」 has no relationship `rId1` in `xl/_rels/workbook.xml.rels`"])
    broken_sst = (b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                  b'count="1" uniqueCount="1"><si><t>a</t></si><si <t>b</t></si></sst>')
    handmade("xlsx/broken-shared-strings.xlsx", base_parts(sst_sheet, broken_sst))
    expect("xlsx/broken-shared-strings.xlsx", "error:MALFORMED_FILE", "-",
           ["`xl/sharedStrings.xml` (the shared strings, the text of the cells) is not valid XML", "共享字符串表"])
    huge_count = (b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                  b'count="1000000000000" uniqueCount="1000000000000"><si><t>x</t></si></sst>')
    handmade("xlsx/shared-strings-unique-count-1e12.xlsx", base_parts(sst_sheet, huge_count))
    expect("xlsx/shared-strings-unique-count-1e12.xlsx", "error:MALFORMED_FILE", "-",
           ["`xl/sharedStrings.xml` claims 1000000000000 unique strings"])

    # calamine#693-style: the whole grid declared, two cells at its corners.
    sparse = sheet(b'<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row>'
                   b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>y</t></is></c></row>',
                   b"A1:XFD1048576")
    handmade("xlsx/sparse-corners.xlsx", base_parts(sparse))
    expect("xlsx/sparse-corners.xlsx", "rows", "0+1", ["x"])

    # 2 GiB of tiny cells: a bomb the parser would take long to reach the ratio's floor with.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in base_parts()[:4]:
            z.writestr(name, data)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write(b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                    b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>h</t></is></c></row><row r="2">')
            chunk = b'<c r="A2"><v>1</v></c>' * 50000
            for _ in range((2 << 30) // len(chunk)):
                f.write(chunk)
            f.write(b"</row></sheetData></worksheet>")
    with open(out("xlsx/tiny-cells-bomb-2gib.xlsx.gz"), "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as f:
            f.write(buf.getvalue())
    expect("xlsx/tiny-cells-bomb-2gib.xlsx.gz", "error:MALFORMED_FILE", "-",
           ["`xl/worksheets/sheet1.xml` expands more than 100-fold", "a zip bomb?", "`max_ratio`"])

    # 2 GiB of one inline string: about 2 MB as a zip, stored gzip-compressed.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in base_parts()[:4]:
            z.writestr(name, data)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write(b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                    b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>')
            chunk = b"A" * (1 << 20)
            for _ in range(2048):
                f.write(chunk)
            f.write(b"</t></is></c></row></sheetData></worksheet>")
    with open(out("xlsx/inline-string-bomb-2gib.xlsx.gz"), "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as f:
            f.write(buf.getvalue())
    expect("xlsx/inline-string-bomb-2gib.xlsx.gz", "error:MALFORMED_FILE", "-",
           ["`xl/worksheets/sheet1.xml`", "a zip bomb?", "zip 炸弹"])

    # A workbook uploaded as csv.
    shutil.copyfile(out("xlsx/openpyxl.xlsx"), out("csv/xlsx-named-csv.csv"))
    expect("csv/xlsx-named-csv.csv", "error:ENCODING", "-", ["holds NUL bytes", "is it an xlsx"])


def main():
    csv_files()
    openpyxl_files()
    xlsxwriter_files()
    long_strings()
    libreoffice_files()
    hostile_files()
    MANIFEST.sort(key=lambda m: (m[0].split("/")[0], m[0], m[1]))
    with open(out("manifest.tsv"), "w", encoding="utf-8") as f:
        f.write("# Generated by make.py; see its docstring for the columns.\n")
        f.write("# file\toptions\toutcome\tcount\tfragments\n")
        for line in MANIFEST:
            f.write("\t".join(line) + "\n")
    total = 0
    for root, _, files in os.walk(HERE):
        for name in files:
            size = os.path.getsize(os.path.join(root, name))
            total += size
            assert size < 1 << 20, f"{name} is {size} bytes"
    print(f"{len(MANIFEST)} cases, {total} bytes in tests/third_party")


if __name__ == "__main__":
    main()
