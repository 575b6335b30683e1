//! Languages of messages and header labels.

use std::{fmt, str::FromStr};

use crate::{CoreError, FieldDef};

/// The language of row error messages and header labels. zh-CN is the default: the vendor
/// guide's templates are Chinese.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    #[default]
    ZhCn,
    En,
}

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::ZhCn => "zh-CN",
            Locale::En => "en",
        }
    }

    /// The field's header label in this language.
    pub fn label(self, field: &FieldDef) -> &'static str {
        match self {
            Locale::ZhCn => field.label_zh,
            Locale::En => field.label_en,
        }
    }

    /// Picks the Chinese or the English text.
    pub fn pick<T>(self, zh: T, en: T) -> T {
        match self {
            Locale::ZhCn => zh,
            Locale::En => en,
        }
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Locale {
    type Err = CoreError;
    /// Accepts `zh-CN`, `zh_cn`, `zh`, `cn`, `en`, `en-US`…
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase().replace('_', "-");
        match lower.as_str() {
            "zh" | "zh-cn" | "cn" | "zh-hans" | "chinese" => Ok(Locale::ZhCn),
            l if l == "en" || l.starts_with("en-") || l == "english" => Ok(Locale::En),
            _ => Err(CoreError::unknown("locale", s, &["zh-CN", "en"])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_parse() {
        assert_eq!("zh_CN".parse::<Locale>(), Ok(Locale::ZhCn));
        assert_eq!("en-GB".parse::<Locale>(), Ok(Locale::En));
        assert!("fr".parse::<Locale>().is_err());
    }
}
