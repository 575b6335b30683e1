//! One address text from the parts CRMs keep apart.

use crate::cjk::has_cjk;

/// The parts of an address as a vendor file keeps them, each as written (trimmed here); an absent
/// part is empty. A street may hold several lines, and there may be a second street column.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Address<'a> {
    pub street: &'a str,
    /// A second street column (HubSpot's `Street Address 2`); empty when the vendor has none.
    pub street2: &'a str,
    pub city: &'a str,
    pub state: &'a str,
    pub postal_code: &'a str,
    pub country: &'a str,
}

impl Address<'_> {
    /// One address text, or `None` when every part is empty.
    ///
    /// * If any part contains CJK characters, Chinese order without separators: country, state,
    ///   city, then the street lines (of `street`, then of `street2`) run together, then a space
    ///   and the postal code. A part is left out when the text after it already starts with it
    ///   (state 上海市 and city 上海市 → 上海市 once; city 深圳市 with street 深圳市南山区… →
    ///   深圳市 once).
    /// * Otherwise Western order separated by `, `: the street lines, city, "state postal code",
    ///   country (`1 Market St, Suite 300, San Francisco, CA 94105, United States`).
    pub fn join(&self) -> Option<String> {
        let lines: Vec<&str> = [self.street, self.street2]
            .into_iter()
            .flat_map(str::lines)
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let (city, state, postal, country) = (
            self.city.trim(),
            self.state.trim(),
            self.postal_code.trim(),
            self.country.trim(),
        );
        let cjk = [city, state, country].into_iter().any(has_cjk) || lines.iter().any(|l| has_cjk(l));
        let joined = if cjk {
            let mut text = lines.concat();
            for part in [city, state, country] {
                if !part.is_empty() && !text.starts_with(part) {
                    text.insert_str(0, part);
                }
            }
            if !postal.is_empty() {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(postal);
            }
            text
        } else {
            let region = [state, postal]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            lines
                .into_iter()
                .chain([city, region.as_str(), country])
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        };
        (!joined.is_empty()).then_some(joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[street, street2, city, state, postal_code, country]`.
    fn join(parts: [&str; 6]) -> Option<String> {
        let [street, street2, city, state, postal_code, country] = parts;
        Address {
            street,
            street2,
            city,
            state,
            postal_code,
            country,
        }
        .join()
    }

    fn check(cases: &[([&str; 6], &str)]) {
        for (parts, joined) in cases {
            assert_eq!(join(*parts).as_deref(), Some(*joined), "{parts:?}");
        }
    }

    #[test]
    fn chinese_order_without_repeats() {
        let cases: &[([&str; 6], &str)] = &[
            (
                ["天河区花城大道85号", "", "广州市", "广东省", "510623", "中国"],
                "中国广东省广州市天河区花城大道85号 510623",
            ),
            // The street already starts with the city, the city with the state.
            (
                ["杭州市西湖区文三路90号", "", "杭州市", "浙江省", "", ""],
                "浙江省杭州市西湖区文三路90号",
            ),
            (
                ["渝中区解放碑", "", "重庆市", "重庆市", "", ""],
                "重庆市渝中区解放碑",
            ),
            // Street lines and the second street column run together.
            (
                [
                    " 南京东路100号\r\n 二楼 ",
                    "201室",
                    "上海市",
                    "上海市",
                    "200001",
                    "",
                ],
                "上海市南京东路100号二楼201室 200001",
            ),
            // One CJK part is enough; a Latin part keeps its place.
            (
                ["千代田区丸の内1-1", "", "東京都", "", "100-0005", "Japan"],
                "Japan東京都千代田区丸の内1-1 100-0005",
            ),
            (["", "", "", "", "400010", ""], "400010"),
        ];
        check(cases);
    }

    #[test]
    fn western_order_with_commas() {
        let cases: &[([&str; 6], &str)] = &[
            (
                [
                    "350 Fifth Ave\nFloor 21",
                    " Suite 2100 ",
                    "New York",
                    "NY",
                    "10118",
                    "USA",
                ],
                "350 Fifth Ave, Floor 21, Suite 2100, New York, NY 10118, USA",
            ),
            (
                ["221B Baker St", "", "London", "", "NW1 6XE", "United Kingdom"],
                "221B Baker St, London, NW1 6XE, United Kingdom",
            ),
            (["", "", "", "Bavaria", "80331", " "], "Bavaria 80331"),
            (["", "", "Paris", "", "", "France"], "Paris, France"),
        ];
        check(cases);
    }

    #[test]
    fn nothing_is_none() {
        assert_eq!(Address::default().join(), None);
        assert_eq!(join([" \n ", "\r\n", " ", "", "\t", ""]), None);
    }
}
