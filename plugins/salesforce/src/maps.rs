//! The picklist translations: Rating ↔ 客户等级, Industry ↔ 所属行业, StageName ↔ 销售阶段.
//!
//! Each picklist has two tables. The *read* table lists every standard Salesforce value exactly
//! once with the dataport value it becomes; the *write* table lists every value of dataport's
//! dictionary exactly once with the Salesforce value it becomes. Both directions are therefore
//! total over their domain and deterministic; where Salesforce has more values than dataport
//! (Industry, StageName), several Salesforce values read as one dataport value and that value
//! writes back as the first of them listed in the README. The unit tests below check the
//! tables against `dataport_core::module`'s dictionaries, so a dictionary change that the tables
//! do not follow fails the build's tests.

use dataport_core::module::{CUSTOMER_LEVELS, INDUSTRIES, OPPORTUNITY_STAGES};

/// One Salesforce picklist field and its translation to a dataport dictionary.
#[derive(Debug)]
pub(crate) struct Picklist {
    /// The Salesforce field's API name, e.g. `Rating`.
    pub(crate) field: &'static str,
    /// Salesforce value → dataport value, every standard Salesforce value once.
    pub(crate) read: &'static [(&'static str, &'static str)],
    /// dataport value → Salesforce value, every dictionary value once.
    pub(crate) write: &'static [(&'static str, &'static str)],
    /// The dataport dictionary the field is checked against.
    pub(crate) dictionary: &'static [&'static str],
}

impl Picklist {
    /// The dataport value of a Salesforce value. Surrounding spaces are ignored and the match
    /// ignores ASCII case (Salesforce picklist values are case-insensitive in the API).
    pub(crate) fn to_dataport(&self, value: &str) -> Option<&'static str> {
        let value = value.trim();
        self.read
            .iter()
            .find(|(sf, _)| sf.eq_ignore_ascii_case(value))
            .map(|(_, dp)| *dp)
    }

    /// The Salesforce value of a dataport value (exact match after trimming).
    pub(crate) fn to_salesforce(&self, value: &str) -> Option<&'static str> {
        let value = value.trim();
        self.write.iter().find(|(dp, _)| *dp == value).map(|(_, sf)| *sf)
    }

    /// The Salesforce values it reads, comma-separated, for messages.
    pub(crate) fn salesforce_values(&self) -> String {
        self.read.iter().map(|(sf, _)| *sf).collect::<Vec<_>>().join(", ")
    }

    /// The dataport values it writes, comma-separated, for messages.
    pub(crate) fn dataport_values(&self) -> String {
        self.dictionary.join(", ")
    }
}

/// Account.Rating ↔ customers.level (客户等级): a one-to-one mapping.
pub(crate) static RATING: Picklist = Picklist {
    field: "Rating",
    read: &[("Hot", "VIP"), ("Warm", "重要"), ("Cold", "普通")],
    write: &[("VIP", "Hot"), ("重要", "Warm"), ("普通", "Cold")],
    dictionary: CUSTOMER_LEVELS,
};

/// Account.Industry ↔ customers.industry (所属行业). The 32 standard Salesforce values onto
/// dataport's 24 industries, and back.
pub(crate) static INDUSTRY: Picklist = Picklist {
    field: "Industry",
    read: &[
        ("Agriculture", "农业"),
        ("Apparel", "制造业"),
        ("Banking", "金融"),
        ("Biotechnology", "医疗健康"),
        ("Chemicals", "化工"),
        ("Communications", "电信"),
        ("Construction", "建筑"),
        ("Consulting", "咨询服务"),
        ("Education", "教育"),
        ("Electronics", "电子制造"),
        ("Energy", "能源"),
        ("Engineering", "建筑"),
        ("Entertainment", "文化传媒"),
        ("Environmental", "政府及公共事业"),
        ("Finance", "金融"),
        ("Food & Beverage", "餐饮"),
        ("Government", "政府及公共事业"),
        ("Healthcare", "医疗健康"),
        ("Hospitality", "酒店旅游"),
        ("Insurance", "保险"),
        ("Machinery", "制造业"),
        ("Manufacturing", "制造业"),
        ("Media", "文化传媒"),
        ("Not For Profit", "其他"),
        ("Other", "其他"),
        ("Recreation", "文化传媒"),
        ("Retail", "零售"),
        ("Shipping", "物流运输"),
        ("Technology", "软件和信息技术服务"),
        ("Telecommunications", "电信"),
        ("Transportation", "物流运输"),
        ("Utilities", "政府及公共事业"),
    ],
    write: &[
        ("互联网", "Technology"),
        ("软件和信息技术服务", "Technology"),
        ("电子制造", "Electronics"),
        ("金融", "Finance"),
        ("保险", "Insurance"),
        ("房地产", "Other"),
        ("建筑", "Construction"),
        ("教育", "Education"),
        ("医疗健康", "Healthcare"),
        ("零售", "Retail"),
        ("批发", "Retail"),
        ("物流运输", "Transportation"),
        ("制造业", "Manufacturing"),
        ("汽车", "Manufacturing"),
        ("能源", "Energy"),
        ("化工", "Chemicals"),
        ("农业", "Agriculture"),
        ("餐饮", "Food & Beverage"),
        ("酒店旅游", "Hospitality"),
        ("文化传媒", "Media"),
        ("政府及公共事业", "Government"),
        ("电信", "Telecommunications"),
        ("咨询服务", "Consulting"),
        ("其他", "Other"),
    ],
    dictionary: INDUSTRIES,
};

/// Opportunity.StageName ↔ opportunities.stage (销售阶段). The ten stages of Salesforce's
/// default sales process onto dataport's six, and back.
pub(crate) static STAGE: Picklist = Picklist {
    field: "StageName",
    read: &[
        ("Prospecting", "初步接洽"),
        ("Qualification", "需求确认"),
        ("Needs Analysis", "需求确认"),
        ("Value Proposition", "方案报价"),
        ("Id. Decision Makers", "方案报价"),
        ("Perception Analysis", "方案报价"),
        ("Proposal/Price Quote", "方案报价"),
        ("Negotiation/Review", "谈判审核"),
        ("Closed Won", "赢单"),
        ("Closed Lost", "输单"),
    ],
    write: &[
        ("初步接洽", "Prospecting"),
        ("需求确认", "Needs Analysis"),
        ("方案报价", "Proposal/Price Quote"),
        ("谈判审核", "Negotiation/Review"),
        ("赢单", "Closed Won"),
        ("输单", "Closed Lost"),
    ],
    dictionary: OPPORTUNITY_STAGES,
};

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// Salesforce's standard Account.Industry values.
    const SALESFORCE_INDUSTRIES: &[&str] = &[
        "Agriculture",
        "Apparel",
        "Banking",
        "Biotechnology",
        "Chemicals",
        "Communications",
        "Construction",
        "Consulting",
        "Education",
        "Electronics",
        "Energy",
        "Engineering",
        "Entertainment",
        "Environmental",
        "Finance",
        "Food & Beverage",
        "Government",
        "Healthcare",
        "Hospitality",
        "Insurance",
        "Machinery",
        "Manufacturing",
        "Media",
        "Not For Profit",
        "Other",
        "Recreation",
        "Retail",
        "Shipping",
        "Technology",
        "Telecommunications",
        "Transportation",
        "Utilities",
    ];

    /// The stages of Salesforce's default sales process.
    const SALESFORCE_STAGES: &[&str] = &[
        "Prospecting",
        "Qualification",
        "Needs Analysis",
        "Value Proposition",
        "Id. Decision Makers",
        "Perception Analysis",
        "Proposal/Price Quote",
        "Negotiation/Review",
        "Closed Won",
        "Closed Lost",
    ];

    fn check_total_and_deterministic(p: &Picklist, salesforce: &[&str]) {
        let read_keys: Vec<&str> = p.read.iter().map(|(sf, _)| *sf).collect();
        assert_eq!(
            read_keys, salesforce,
            "{}: the read table lists every value once",
            p.field
        );
        let write_keys: Vec<&str> = p.write.iter().map(|(dp, _)| *dp).collect();
        assert_eq!(
            write_keys, p.dictionary,
            "{}: the write table lists the dictionary",
            p.field
        );
        for (sf, dp) in p.read {
            assert!(
                p.dictionary.contains(dp),
                "{}: {sf} → {dp} is not in the dictionary",
                p.field
            );
        }
        for (dp, sf) in p.write {
            assert!(
                salesforce.contains(sf),
                "{}: {dp} → {sf} is not a Salesforce value",
                p.field
            );
        }
        let unique: HashSet<String> = read_keys.iter().map(|k| k.to_ascii_lowercase()).collect();
        assert_eq!(
            unique.len(),
            read_keys.len(),
            "{}: case-insensitively unique",
            p.field
        );
    }

    #[test]
    fn every_table_is_total_and_deterministic() {
        check_total_and_deterministic(&RATING, &["Hot", "Warm", "Cold"]);
        check_total_and_deterministic(&INDUSTRY, SALESFORCE_INDUSTRIES);
        check_total_and_deterministic(&STAGE, SALESFORCE_STAGES);
    }

    /// A dataport value written and read back is itself, except for the dictionary values
    /// Salesforce has no standard value for (documented in the README).
    #[test]
    fn dataport_values_survive_a_round_trip_except_the_documented_ones() {
        for p in [&RATING, &INDUSTRY, &STAGE] {
            let lossy: Vec<(&str, &str)> = p
                .dictionary
                .iter()
                .filter_map(|dp| {
                    let sf = p.to_salesforce(dp)?;
                    let back = p.to_dataport(sf)?;
                    (back != *dp).then_some((*dp, back))
                })
                .collect();
            let expected: &[(&str, &str)] = match p.field {
                "Industry" => &[
                    ("互联网", "软件和信息技术服务"),
                    ("房地产", "其他"),
                    ("批发", "零售"),
                    ("汽车", "制造业"),
                ],
                _ => &[],
            };
            assert_eq!(lossy, expected, "{}", p.field);
        }
    }

    /// A Salesforce value read and written back: the values each dataport value writes as come
    /// back unchanged; the others become the documented representative.
    #[test]
    fn salesforce_values_round_trip_to_their_representative() {
        let merged: Vec<(&str, &str)> = SALESFORCE_INDUSTRIES
            .iter()
            .filter_map(|sf| {
                let back = INDUSTRY.to_salesforce(INDUSTRY.to_dataport(sf)?)?;
                (back != *sf).then_some((*sf, back))
            })
            .collect();
        assert_eq!(
            merged,
            [
                ("Apparel", "Manufacturing"),
                ("Banking", "Finance"),
                ("Biotechnology", "Healthcare"),
                ("Communications", "Telecommunications"),
                ("Engineering", "Construction"),
                ("Entertainment", "Media"),
                ("Environmental", "Government"),
                ("Machinery", "Manufacturing"),
                ("Not For Profit", "Other"),
                ("Recreation", "Media"),
                ("Shipping", "Transportation"),
                ("Utilities", "Government"),
            ]
        );
        let merged: Vec<(&str, &str)> = SALESFORCE_STAGES
            .iter()
            .filter_map(|sf| {
                let back = STAGE.to_salesforce(STAGE.to_dataport(sf)?)?;
                (back != *sf).then_some((*sf, back))
            })
            .collect();
        assert_eq!(
            merged,
            [
                ("Qualification", "Needs Analysis"),
                ("Value Proposition", "Proposal/Price Quote"),
                ("Id. Decision Makers", "Proposal/Price Quote"),
                ("Perception Analysis", "Proposal/Price Quote"),
            ]
        );
    }

    #[test]
    fn lookups_trim_and_read_case_insensitively() {
        assert_eq!(RATING.to_dataport(" hot "), Some("VIP"));
        assert_eq!(RATING.to_dataport("WARM"), Some("重要"));
        assert_eq!(RATING.to_dataport("Lukewarm"), None);
        assert_eq!(INDUSTRY.to_dataport("food & beverage"), Some("餐饮"));
        assert_eq!(STAGE.to_dataport("closed won"), Some("赢单"));
        assert_eq!(RATING.to_salesforce("VIP"), Some("Hot"));
        assert_eq!(RATING.to_salesforce("vip"), None, "dataport values are exact");
        assert_eq!(RATING.salesforce_values(), "Hot, Warm, Cold");
        assert_eq!(RATING.dataport_values(), "VIP, 重要, 普通");
    }
}
