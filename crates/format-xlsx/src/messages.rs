//! The reader's file-level messages, in Chinese and English.
//!
//! The host passes a plugin's file-level message through as it is and does not tell the plugin
//! the job's locale, so each message holds both languages, `中文 / English`. A message names the
//! part of the archive concerned (`xl/sharedStrings.xml`), says what that part is for and what
//! the user can do; no parser's own error text is shown for the failures the pre-scan knows.

use dataport_plugin_sdk::PluginError;

/// `zh / en`.
pub(crate) fn both(zh: impl std::fmt::Display, en: impl std::fmt::Display) -> String {
    format!("{zh} / {en}")
}

/// A `MALFORMED_FILE` error in both languages.
pub(crate) fn malformed(zh: impl std::fmt::Display, en: impl std::fmt::Display) -> PluginError {
    PluginError::malformed(both(zh, en))
}

const RESAVE_ZH: &str = "请在 Excel 或 WPS 中打开并重新另存为 .xlsx";
const RESAVE_EN: &str = "open it in Excel or WPS and save it again as .xlsx";

/// A part of the archive: its path and what it is for.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub path: String,
    zh: String,
    en: String,
}

impl Part {
    pub fn new(path: impl Into<String>, zh: impl Into<String>, en: impl Into<String>) -> Part {
        Part {
            path: path.into(),
            zh: zh.into(),
            en: en.into(),
        }
    }

    pub fn relationships(path: impl Into<String>) -> Part {
        Part::new(
            path,
            "部件关系表，记录工作簿各部分所在位置",
            "the relationships that say where the workbook's parts are",
        )
    }

    pub fn shared_strings(path: impl Into<String>) -> Part {
        Part::new(
            path,
            "共享字符串表，即单元格中的文字",
            "the shared strings, the text of the cells",
        )
    }

    pub fn workbook(path: impl Into<String>) -> Part {
        Part::new(path, "工作簿的工作表列表", "the workbook's list of sheets")
    }

    pub fn styles(path: impl Into<String>) -> Part {
        Part::new(path, "单元格格式", "the cell formats")
    }

    pub fn theme(path: impl Into<String>) -> Part {
        Part::new(path, "主题", "the theme")
    }

    pub fn sheet(path: impl Into<String>, name: &str) -> Part {
        Part::new(
            path,
            format!("工作表「{name}」的数据"),
            format!("the data of sheet 「{name}」"),
        )
    }

    /// `` `xl/sharedStrings.xml`（共享字符串表…） ``
    fn zh(&self) -> String {
        format!("`{}`（{}）", self.path, self.zh)
    }

    /// `` `xl/sharedStrings.xml` (the shared strings…) ``
    fn en(&self) -> String {
        format!("`{}` ({})", self.path, self.en)
    }
}

// ---- the archive ----

/// The file is not a zip archive, or not one an xlsx can be: `en` keeps the wording
/// `not an xlsx file (zip archive): …`.
pub(crate) fn not_xlsx(zh: impl std::fmt::Display, en: impl std::fmt::Display) -> PluginError {
    malformed(
        format!("不是 xlsx 文件（zip 压缩包）：{zh}"),
        format!("not an xlsx file (zip archive): {en}"),
    )
}

pub(crate) fn empty_file() -> PluginError {
    not_xlsx("文件是空的", "the file is empty")
}

pub(crate) fn no_zip_header() -> PluginError {
    not_xlsx(
        "文件开头不是 zip 文件头；请上传 Excel 保存的 .xlsx 工作簿（CSV 文件请用 .csv 扩展名）",
        "it does not start with a zip header; upload an .xlsx workbook as Excel saves it (a CSV file needs the .csv extension)",
    )
}

pub(crate) fn ole2() -> PluginError {
    not_xlsx(
        "这是 OLE2 复合文档：旧版 .xls 工作簿或设有密码的 xlsx；请在 Excel 中另存为不设密码的 .xlsx 工作簿",
        "this is an OLE2 compound file: a legacy .xls workbook or a password-protected xlsx; save it in Excel as an unprotected .xlsx workbook",
    )
}

/// The central directory (the zip's table of contents, at its end) cannot be read.
pub(crate) fn central_directory() -> PluginError {
    not_xlsx(
        "找不到或无法读取 zip 的中央目录（位于文件末尾的文件目录）：文件不完整（下载或复制被中断？）或已损坏；请重新下载，或在 Excel 中重新保存",
        "its central directory (the table of contents at the end of a zip file) is missing or damaged: the file is incomplete (an interrupted download or copy?) or corrupt; download it again, or save it again in Excel",
    )
}

/// The zip uses something xlsx files never do (several disks, unknown features).
pub(crate) fn unsupported_zip() -> PluginError {
    not_xlsx(
        "使用了 xlsx 文件从不使用的 zip 功能（分卷、加密目录等）；请在 Excel 中重新保存",
        "it uses zip features xlsx files never use (several volumes, an encrypted directory…); save it again in Excel",
    )
}

pub(crate) fn no_workbook(path: &str) -> PluginError {
    not_xlsx(
        format!("压缩包中没有工作簿部件 `{path}`；它是 .docx、.zip 或其他类型的文件吗？"),
        format!("the archive has no workbook part `{path}`; is it a .docx, a .zip or another kind of file?"),
    )
}

/// A part every workbook reader needs is not in the archive.
pub(crate) fn missing_part(part: &Part) -> PluginError {
    malformed(
        format!(
            "压缩包中缺少 {}：它不是完整的 xlsx 工作簿；{RESAVE_ZH}",
            part.zh()
        ),
        format!(
            "the archive has no {}: it is not a complete xlsx workbook; {RESAVE_EN}",
            part.en()
        ),
    )
}

pub(crate) fn case_duplicates(a: &str, b: &str) -> PluginError {
    malformed(
        format!(
            "压缩包中有两个名称仅大小写不同的部件：`{a}` 和 `{b}`；无法确定该读哪一个（Excel 从不这样保存），文件已损坏或被篡改"
        ),
        format!(
            "the archive holds two parts whose names differ only in case, `{a}` and `{b}`; it is not clear which one to read (Excel never saves that): the file is damaged or was tampered with"
        ),
    )
}

pub(crate) fn too_many_entries(entries: u64, limit: u64) -> PluginError {
    malformed(
        format!("xlsx 压缩包有 {entries} 个条目，超过上限 {limit}（选项 `max_zip_entries` 可提高上限）"),
        format!(
            "the xlsx archive has {entries} entries, more than the limit of {limit} (option `max_zip_entries` raises it)"
        ),
    )
}

pub(crate) fn encrypted(part: &Part) -> PluginError {
    malformed(
        format!("{} 已加密；请在 Excel 中去掉密码后重新保存", part.zh()),
        format!("{} is encrypted; save the workbook without a password", part.en()),
    )
}

pub(crate) fn compression_method(part: &Part, method: impl std::fmt::Display) -> PluginError {
    malformed(
        format!(
            "{} 使用了 xlsx 文件不用的压缩方法 {method}；{RESAVE_ZH}",
            part.zh()
        ),
        format!(
            "{} uses compression method {method}, which xlsx files do not use; {RESAVE_EN}",
            part.en()
        ),
    )
}

/// A part's compressed data cannot be read or inflated.
pub(crate) fn undecompressable(part: &Part) -> PluginError {
    malformed(
        format!(
            "{} 无法解压：文件已损坏或不完整；请重新下载，或在 Excel 中重新保存",
            part.zh()
        ),
        format!(
            "{} cannot be decompressed: the file is damaged or incomplete; download it again, or save it again in Excel",
            part.en()
        ),
    )
}

/// A part's real size is not the one the archive declares.
pub(crate) fn size_mismatch(part: &Part, declared: u64, real: u64) -> PluginError {
    let (zh, en) = if real > declared {
        ("大于", "larger")
    } else {
        ("小于", "smaller")
    };
    malformed(
        format!(
            "{} 解压后有 {real} 字节，{zh}压缩包声明的 {declared} 字节：文件已损坏或被篡改；{RESAVE_ZH}",
            part.zh()
        ),
        format!(
            "{} is {en} than its declared uncompressed size ({real} bytes, {declared} declared): the file is damaged or was tampered with; {RESAVE_EN}",
            part.en()
        ),
    )
}

// ---- budgets ----

pub(crate) fn entry_budget(path: &str, mib: u64) -> PluginError {
    malformed(
        format!("`{path}` 解压后超过 {mib} MiB，即单个部件的上限（选项 `max_entry_mib` 可提高上限）"),
        format!(
            "`{path}` decompresses to more than {mib} MiB, the limit per part (option `max_entry_mib` raises it)"
        ),
    )
}

pub(crate) fn total_budget(mib: u64) -> PluginError {
    malformed(
        format!("工作簿各部件解压后总计超过 {mib} MiB，即总量上限（选项 `max_total_mib` 可提高上限）"),
        format!(
            "the workbook's parts decompress to more than {mib} MiB in total, the limit (option `max_total_mib` raises it)"
        ),
    )
}

/// The compression ratio, counted once the workbook has expanded past `floor_mib`.
pub(crate) fn ratio(path: &str, ratio: u64, out: u64, consumed: u64, floor_mib: u64) -> PluginError {
    malformed(
        format!(
            "`{path}` 膨胀超过 {ratio} 倍（到目前为止由 {consumed} 个压缩字节解出 {out} 字节，含此前读过的部件），超过了解压超过 {floor_mib} MiB 后适用的压缩比上限：可能是 zip 炸弹（选项 `max_ratio` 可提高上限）"
        ),
        format!(
            "`{path}` expands more than {ratio}-fold ({out} bytes from {consumed} compressed bytes so far, the parts read before it included), the compression ratio limit that applies past {floor_mib} MiB expanded: a zip bomb? (option `max_ratio` raises it)"
        ),
    )
}

/// [`ratio`], from the sizes the archive declares, before anything is decompressed.
pub(crate) fn declared_ratio(path: &str, ratio: u64, out: u64, consumed: u64, floor_mib: u64) -> PluginError {
    malformed(
        format!(
            "`{path}` 膨胀超过 {ratio} 倍（压缩包声明由 {consumed} 个压缩字节解出 {out} 字节，含此前读过的部件），超过了解压超过 {floor_mib} MiB 后适用的压缩比上限：可能是 zip 炸弹（选项 `max_ratio` 可提高上限）"
        ),
        format!(
            "`{path}` expands more than {ratio}-fold (the archive declares {out} bytes from {consumed} compressed bytes, the parts read before it included), the compression ratio limit that applies past {floor_mib} MiB expanded: a zip bomb? (option `max_ratio` raises it)"
        ),
    )
}

/// One XML item (a text, tag or comment) longer than any spreadsheet writes, and highly
/// compressed: a bomb.
pub(crate) fn item_bomb(path: &str, item_mib: u64, ratio: u64, out: u64, consumed: u64) -> PluginError {
    malformed(
        format!(
            "`{path}` 含有一段超过 {item_mib} MiB 的 XML（文字或标签），且膨胀超过 {ratio} 倍（到目前为止由 {consumed} 个压缩字节解出 {out} 字节）：可能是 zip 炸弹（选项 `max_ratio` 可提高压缩比上限）"
        ),
        format!(
            "`{path}` holds one XML item (a text or a tag) of more than {item_mib} MiB and expands more than {ratio}-fold ({out} bytes from {consumed} compressed bytes so far): a zip bomb? (option `max_ratio` raises the ratio limit)"
        ),
    )
}

/// One XML item longer than any spreadsheet writes.
pub(crate) fn item_too_long(path: &str, item_mib: u64) -> PluginError {
    malformed(
        format!(
            "`{path}` 含有一段超过 {item_mib} MiB 的 XML（文字或标签），电子表格从不写出这样的内容（一个 Excel 单元格最多 32767 个字符）；为限制内存而拒绝（没有选项可以放宽此检查）"
        ),
        format!(
            "`{path}` holds one XML item (a text or a tag) of more than {item_mib} MiB, which no spreadsheet writes (an Excel cell holds at most 32767 characters); refused to bound memory (no option relaxes this check)"
        ),
    )
}

// ---- the parts' XML ----

pub(crate) fn doctype(path: &str) -> PluginError {
    malformed(
        format!(
            "工作簿声明了 XML 实体（DOCTYPE），电子表格从不需要它；作为可能的 XML 炸弹拒绝导入（`{path}`）"
        ),
        format!(
            "the workbook declares XML entities (DOCTYPE), which spreadsheets never need; refused as a possible XML bomb (`{path}`)"
        ),
    )
}

pub(crate) fn undefined_entity(part: &Part, name: &str) -> PluginError {
    malformed(
        format!(
            "{} 使用了未定义的 XML 实体 `&{name};`：文件已损坏或不是电子表格软件保存的；{RESAVE_ZH}",
            part.zh()
        ),
        format!(
            "{} uses the XML entity `&{name};`, which is not defined: the file is damaged or was not saved by a spreadsheet program; {RESAVE_EN}",
            part.en()
        ),
    )
}

pub(crate) fn invalid_xml(part: &Part, position: u64) -> PluginError {
    malformed(
        format!(
            "{} 不是有效的 XML（约第 {position} 字节处）：文件已损坏；{RESAVE_ZH}",
            part.zh()
        ),
        format!(
            "{} is not valid XML (near byte {position}): the file is damaged; {RESAVE_EN}",
            part.en()
        ),
    )
}

pub(crate) fn truncated_xml(part: &Part) -> PluginError {
    malformed(
        format!(
            "{} 的 XML 在结束前中断：文件被截断或已损坏；请重新下载，或在 Excel 中重新保存",
            part.zh()
        ),
        format!(
            "{} ends before its XML is complete: the file was cut short or is damaged; download it again, or save it again in Excel",
            part.en()
        ),
    )
}

pub(crate) fn no_sheets(part: &Part) -> PluginError {
    malformed(
        format!("工作簿没有工作表（{}）", part.zh()),
        format!("the workbook has no sheets ({})", part.en()),
    )
}

pub(crate) fn no_relationship(sheet: &str, id: &str, rels: &Part) -> PluginError {
    malformed(
        format!(
            "工作表「{sheet}」在 {} 中没有关系 `{id}`，找不到它的数据：文件已损坏；{RESAVE_ZH}",
            rels.zh()
        ),
        format!(
            "sheet 「{sheet}」 has no relationship `{id}` in {}, so its data cannot be found: the file is damaged; {RESAVE_EN}",
            rels.en()
        ),
    )
}

pub(crate) fn missing_sheet_part(sheet: &str, path: &str, rels: &Part) -> PluginError {
    malformed(
        format!(
            "工作表「{sheet}」的数据应在 `{path}`（由 `{}` 指出），但压缩包中没有这个部件：文件已损坏；{RESAVE_ZH}",
            rels.path
        ),
        format!(
            "sheet 「{sheet}」 should be in `{path}` (says `{}`), which is not in the archive: the file is damaged; {RESAVE_EN}",
            rels.path
        ),
    )
}

pub(crate) fn sst_not_a_number(path: &str, attr: &str, value: &str) -> PluginError {
    malformed(
        format!("`{path}`（共享字符串表）的 {attr}=\"{value}\" 不是数字：文件已损坏"),
        format!("`{path}` has {attr}=\"{value}\", which is not a number: the file is damaged"),
    )
}

pub(crate) fn sst_count(path: &str, unique: u64, bytes: u64) -> PluginError {
    malformed(
        format!(
            "`{path}`（共享字符串表）声称有 {unique} 个不同的字符串，但只有 {bytes} 字节：文件自相矛盾（没有选项可以放宽此检查）"
        ),
        format!(
            "`{path}` claims {unique} unique strings but is only {bytes} bytes long; the file is inconsistent (no option relaxes this check)"
        ),
    )
}

pub(crate) fn sst_too_large(path: &str) -> PluginError {
    malformed(
        format!("`{path}`（共享字符串表）的文字超过 4 GiB，无法读取；请把数据分成几个文件"),
        format!(
            "the text of `{path}` (the shared strings) is larger than 4 GiB; split the data into several files"
        ),
    )
}

/// A cell whose value cannot be what its type says (`what`: why, in both languages).
pub(crate) fn bad_cell(
    sheet: &str,
    cell: &str,
    zh: impl std::fmt::Display,
    en: impl std::fmt::Display,
) -> PluginError {
    malformed(
        format!("工作表「{sheet}」的单元格 {cell}：{zh}；文件已损坏，{RESAVE_ZH}"),
        format!("sheet `{sheet}`, cell {cell}: {en}; the file is damaged, {RESAVE_EN}"),
    )
}

/// A reference outside Excel's grid (`what`: `a cell at`, `the dimension`…).
pub(crate) fn outside_grid(
    sheet: &str,
    what: &str,
    what_zh: &str,
    value: &str,
    rows: u32,
    cols: u32,
) -> PluginError {
    malformed(
        format!(
            "工作表「{sheet}」的{what_zh} `{value}` 不是 Excel 的 {rows} 行 × {cols} 列范围内的有效引用：文件已损坏"
        ),
        format!(
            "sheet `{sheet}` has {what} `{value}`, which is not a valid reference within Excel's {rows} rows × {cols} columns"
        ),
    )
}

pub(crate) fn no_sheet_data(sheet: &str, mib: u64) -> PluginError {
    malformed(
        format!("工作表「{sheet}」在前 {mib} MiB 中没有单元格数据，不是可以流式读取的工作表"),
        format!(
            "sheet `{sheet}` has no cell data in its first {mib} MiB; it is not a worksheet that can be streamed"
        ),
    )
}

// ---- the sheet ----

/// The chosen sheet has no cell with a value.
pub(crate) fn empty_sheet(number: usize, name: &str, names: &[String]) -> PluginError {
    let (others_zh, others_en) = if names.len() > 1 {
        let quoted: Vec<String> = names.iter().map(|n| format!("「{n}」")).collect();
        (
            format!("（本工作簿的工作表：{}）", quoted.join("、")),
            format!(" (the workbook's sheets: {})", quoted.join(", ")),
        )
    } else {
        (
            "（本工作簿只有这一个工作表）".to_owned(),
            " (it is the workbook's only sheet)".to_owned(),
        )
    };
    malformed(
        format!("第{number}个工作表「{name}」是空的；请用 -O sheet=名称 选择另一个工作表{others_zh}"),
        format!("sheet {number} 「{name}」 is empty; choose another with -O sheet=NAME{others_en}"),
    )
}
