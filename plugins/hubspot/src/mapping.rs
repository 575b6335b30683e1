//! The value tables: HubSpot's Industry, Deal Stage and Lead Status values and dataport's
//! dictionaries, in both directions. The README prints the same tables; a unit test below checks
//! that they agree with `dataport_core`'s dictionaries.

/// One HubSpot picklist and how its values map onto a dataport dictionary.
#[derive(Debug)]
pub(crate) struct ValueMap {
    /// The HubSpot property, as its export column is called (`Industry`).
    pub property: &'static str,
    /// `(export label, internal name, dataport value)`: reading accepts the label or the
    /// internal name, trimmed, ASCII case ignored.
    pub entries: &'static [(&'static str, &'static str, &'static str)],
    /// `(dataport value, export label)`: what writing puts in the file. A dataport value missing
    /// here has no HubSpot value.
    pub reverse: &'static [(&'static str, &'static str)],
}

impl ValueMap {
    /// The dataport value of a HubSpot label or internal name.
    pub fn to_canonical(&self, vendor: &str) -> Option<&'static str> {
        let vendor = vendor.trim();
        self.entries
            .iter()
            .find(|(label, internal, _)| {
                label.eq_ignore_ascii_case(vendor) || internal.eq_ignore_ascii_case(vendor)
            })
            .map(|(_, _, canonical)| *canonical)
    }

    /// The HubSpot values, for the message about a value without a mapping: listed when there
    /// are a few, else a pointer to the README's table.
    pub fn known_vendor_values(&self) -> String {
        if self.entries.len() > 10 {
            return "see the plugin README for known values".to_owned();
        }
        let labels: Vec<&str> = self.entries.iter().map(|(label, _, _)| *label).collect();
        format!("known values: {} (or their internal names)", labels.join(", "))
    }

    /// The dataport values that have a HubSpot value, for the message about one that has none.
    pub fn known_canonical_values(&self) -> String {
        let values: Vec<&str> = self.reverse.iter().map(|(canonical, _)| *canonical).collect();
        format!("known values: {}", values.join(", "))
    }

    /// The HubSpot export label written for a dataport value.
    pub fn to_vendor(&self, canonical: &str) -> Option<&'static str> {
        let canonical = canonical.trim();
        self.reverse
            .iter()
            .find(|(c, _)| *c == canonical)
            .map(|(_, label)| *label)
    }
}

/// HubSpot's company property `industry` (the 148 LinkedIn industries) onto 所属行业.
pub(crate) static INDUSTRY: ValueMap = ValueMap {
    property: "Industry",
    entries: &[
        ("Accounting", "ACCOUNTING", "咨询服务"),
        ("Airlines/Aviation", "AIRLINES_AVIATION", "物流运输"),
        (
            "Alternative Dispute Resolution",
            "ALTERNATIVE_DISPUTE_RESOLUTION",
            "咨询服务",
        ),
        ("Alternative Medicine", "ALTERNATIVE_MEDICINE", "医疗健康"),
        ("Animation", "ANIMATION", "文化传媒"),
        ("Apparel & Fashion", "APPAREL_FASHION", "零售"),
        ("Architecture & Planning", "ARCHITECTURE_PLANNING", "建筑"),
        ("Arts and Crafts", "ARTS_AND_CRAFTS", "文化传媒"),
        ("Automotive", "AUTOMOTIVE", "汽车"),
        ("Aviation & Aerospace", "AVIATION_AEROSPACE", "制造业"),
        ("Banking", "BANKING", "金融"),
        ("Biotechnology", "BIOTECHNOLOGY", "医疗健康"),
        ("Broadcast Media", "BROADCAST_MEDIA", "文化传媒"),
        ("Building Materials", "BUILDING_MATERIALS", "建筑"),
        (
            "Business Supplies and Equipment",
            "BUSINESS_SUPPLIES_AND_EQUIPMENT",
            "批发",
        ),
        ("Capital Markets", "CAPITAL_MARKETS", "金融"),
        ("Chemicals", "CHEMICALS", "化工"),
        (
            "Civic & Social Organization",
            "CIVIC_SOCIAL_ORGANIZATION",
            "政府及公共事业",
        ),
        ("Civil Engineering", "CIVIL_ENGINEERING", "建筑"),
        ("Commercial Real Estate", "COMMERCIAL_REAL_ESTATE", "房地产"),
        (
            "Computer & Network Security",
            "COMPUTER_NETWORK_SECURITY",
            "软件和信息技术服务",
        ),
        ("Computer Games", "COMPUTER_GAMES", "互联网"),
        ("Computer Hardware", "COMPUTER_HARDWARE", "电子制造"),
        ("Computer Networking", "COMPUTER_NETWORKING", "软件和信息技术服务"),
        ("Computer Software", "COMPUTER_SOFTWARE", "软件和信息技术服务"),
        ("Construction", "CONSTRUCTION", "建筑"),
        ("Consumer Electronics", "CONSUMER_ELECTRONICS", "电子制造"),
        ("Consumer Goods", "CONSUMER_GOODS", "零售"),
        ("Consumer Services", "CONSUMER_SERVICES", "其他"),
        ("Cosmetics", "COSMETICS", "零售"),
        ("Dairy", "DAIRY", "农业"),
        ("Defense & Space", "DEFENSE_SPACE", "制造业"),
        ("Design", "DESIGN", "文化传媒"),
        ("E-Learning", "E_LEARNING", "教育"),
        ("Education Management", "EDUCATION_MANAGEMENT", "教育"),
        (
            "Electrical/Electronic Manufacturing",
            "ELECTRICAL_ELECTRONIC_MANUFACTURING",
            "电子制造",
        ),
        ("Entertainment", "ENTERTAINMENT", "文化传媒"),
        (
            "Environmental Services",
            "ENVIRONMENTAL_SERVICES",
            "政府及公共事业",
        ),
        ("Events Services", "EVENTS_SERVICES", "文化传媒"),
        ("Executive Office", "EXECUTIVE_OFFICE", "政府及公共事业"),
        ("Facilities Services", "FACILITIES_SERVICES", "房地产"),
        ("Farming", "FARMING", "农业"),
        ("Financial Services", "FINANCIAL_SERVICES", "金融"),
        ("Fine Art", "FINE_ART", "文化传媒"),
        ("Fishery", "FISHERY", "农业"),
        ("Food & Beverages", "FOOD_BEVERAGES", "餐饮"),
        ("Food Production", "FOOD_PRODUCTION", "制造业"),
        ("Fund-Raising", "FUND_RAISING", "其他"),
        ("Furniture", "FURNITURE", "制造业"),
        ("Gambling & Casinos", "GAMBLING_CASINOS", "酒店旅游"),
        ("Glass, Ceramics & Concrete", "GLASS_CERAMICS_CONCRETE", "制造业"),
        (
            "Government Administration",
            "GOVERNMENT_ADMINISTRATION",
            "政府及公共事业",
        ),
        ("Government Relations", "GOVERNMENT_RELATIONS", "咨询服务"),
        ("Graphic Design", "GRAPHIC_DESIGN", "文化传媒"),
        (
            "Health, Wellness and Fitness",
            "HEALTH_WELLNESS_AND_FITNESS",
            "医疗健康",
        ),
        ("Higher Education", "HIGHER_EDUCATION", "教育"),
        ("Hospital & Health Care", "HOSPITAL_HEALTH_CARE", "医疗健康"),
        ("Hospitality", "HOSPITALITY", "酒店旅游"),
        ("Human Resources", "HUMAN_RESOURCES", "咨询服务"),
        ("Import and Export", "IMPORT_AND_EXPORT", "批发"),
        (
            "Individual & Family Services",
            "INDIVIDUAL_FAMILY_SERVICES",
            "其他",
        ),
        ("Industrial Automation", "INDUSTRIAL_AUTOMATION", "制造业"),
        (
            "Information Services",
            "INFORMATION_SERVICES",
            "软件和信息技术服务",
        ),
        (
            "Information Technology and Services",
            "INFORMATION_TECHNOLOGY_AND_SERVICES",
            "软件和信息技术服务",
        ),
        ("Insurance", "INSURANCE", "保险"),
        ("International Affairs", "INTERNATIONAL_AFFAIRS", "政府及公共事业"),
        (
            "International Trade and Development",
            "INTERNATIONAL_TRADE_AND_DEVELOPMENT",
            "批发",
        ),
        ("Internet", "INTERNET", "互联网"),
        ("Investment Banking", "INVESTMENT_BANKING", "金融"),
        ("Investment Management", "INVESTMENT_MANAGEMENT", "金融"),
        ("Judiciary", "JUDICIARY", "政府及公共事业"),
        ("Law Enforcement", "LAW_ENFORCEMENT", "政府及公共事业"),
        ("Law Practice", "LAW_PRACTICE", "咨询服务"),
        ("Legal Services", "LEGAL_SERVICES", "咨询服务"),
        ("Legislative Office", "LEGISLATIVE_OFFICE", "政府及公共事业"),
        ("Leisure, Travel & Tourism", "LEISURE_TRAVEL_TOURISM", "酒店旅游"),
        ("Libraries", "LIBRARIES", "政府及公共事业"),
        (
            "Logistics and Supply Chain",
            "LOGISTICS_AND_SUPPLY_CHAIN",
            "物流运输",
        ),
        ("Luxury Goods & Jewelry", "LUXURY_GOODS_JEWELRY", "零售"),
        ("Machinery", "MACHINERY", "制造业"),
        ("Management Consulting", "MANAGEMENT_CONSULTING", "咨询服务"),
        ("Maritime", "MARITIME", "物流运输"),
        ("Market Research", "MARKET_RESEARCH", "咨询服务"),
        (
            "Marketing and Advertising",
            "MARKETING_AND_ADVERTISING",
            "文化传媒",
        ),
        (
            "Mechanical or Industrial Engineering",
            "MECHANICAL_OR_INDUSTRIAL_ENGINEERING",
            "制造业",
        ),
        ("Media Production", "MEDIA_PRODUCTION", "文化传媒"),
        ("Medical Devices", "MEDICAL_DEVICES", "医疗健康"),
        ("Medical Practice", "MEDICAL_PRACTICE", "医疗健康"),
        ("Mental Health Care", "MENTAL_HEALTH_CARE", "医疗健康"),
        ("Military", "MILITARY", "政府及公共事业"),
        ("Mining & Metals", "MINING_METALS", "能源"),
        ("Mobile Games", "MOBILE_GAMES", "互联网"),
        ("Motion Pictures and Film", "MOTION_PICTURES_AND_FILM", "文化传媒"),
        ("Museums and Institutions", "MUSEUMS_AND_INSTITUTIONS", "文化传媒"),
        ("Music", "MUSIC", "文化传媒"),
        ("Nanotechnology", "NANOTECHNOLOGY", "制造业"),
        ("Newspapers", "NEWSPAPERS", "文化传媒"),
        (
            "Non-Profit Organization Management",
            "NON_PROFIT_ORGANIZATION_MANAGEMENT",
            "其他",
        ),
        ("Oil & Energy", "OIL_ENERGY", "能源"),
        ("Online Media", "ONLINE_MEDIA", "互联网"),
        ("Outsourcing/Offshoring", "OUTSOURCING_OFFSHORING", "咨询服务"),
        ("Package/Freight Delivery", "PACKAGE_FREIGHT_DELIVERY", "物流运输"),
        ("Packaging and Containers", "PACKAGING_AND_CONTAINERS", "制造业"),
        ("Paper & Forest Products", "PAPER_FOREST_PRODUCTS", "制造业"),
        ("Performing Arts", "PERFORMING_ARTS", "文化传媒"),
        ("Pharmaceuticals", "PHARMACEUTICALS", "医疗健康"),
        ("Philanthropy", "PHILANTHROPY", "其他"),
        ("Photography", "PHOTOGRAPHY", "文化传媒"),
        ("Plastics", "PLASTICS", "化工"),
        (
            "Political Organization",
            "POLITICAL_ORGANIZATION",
            "政府及公共事业",
        ),
        (
            "Primary/Secondary Education",
            "PRIMARY_SECONDARY_EDUCATION",
            "教育",
        ),
        ("Printing", "PRINTING", "文化传媒"),
        (
            "Professional Training & Coaching",
            "PROFESSIONAL_TRAINING_COACHING",
            "教育",
        ),
        ("Program Development", "PROGRAM_DEVELOPMENT", "软件和信息技术服务"),
        ("Public Policy", "PUBLIC_POLICY", "政府及公共事业"),
        (
            "Public Relations and Communications",
            "PUBLIC_RELATIONS_AND_COMMUNICATIONS",
            "文化传媒",
        ),
        ("Public Safety", "PUBLIC_SAFETY", "政府及公共事业"),
        ("Publishing", "PUBLISHING", "文化传媒"),
        ("Railroad Manufacture", "RAILROAD_MANUFACTURE", "制造业"),
        ("Ranching", "RANCHING", "农业"),
        ("Real Estate", "REAL_ESTATE", "房地产"),
        (
            "Recreational Facilities and Services",
            "RECREATIONAL_FACILITIES_AND_SERVICES",
            "酒店旅游",
        ),
        ("Religious Institutions", "RELIGIOUS_INSTITUTIONS", "其他"),
        ("Renewables & Environment", "RENEWABLES_ENVIRONMENT", "能源"),
        ("Research", "RESEARCH", "其他"),
        ("Restaurants", "RESTAURANTS", "餐饮"),
        ("Retail", "RETAIL", "零售"),
        (
            "Security and Investigations",
            "SECURITY_AND_INVESTIGATIONS",
            "其他",
        ),
        ("Semiconductors", "SEMICONDUCTORS", "电子制造"),
        ("Shipbuilding", "SHIPBUILDING", "制造业"),
        ("Sporting Goods", "SPORTING_GOODS", "零售"),
        ("Sports", "SPORTS", "文化传媒"),
        ("Staffing and Recruiting", "STAFFING_AND_RECRUITING", "咨询服务"),
        ("Supermarkets", "SUPERMARKETS", "零售"),
        ("Telecommunications", "TELECOMMUNICATIONS", "电信"),
        ("Textiles", "TEXTILES", "制造业"),
        ("Think Tanks", "THINK_TANKS", "咨询服务"),
        ("Tobacco", "TOBACCO", "制造业"),
        (
            "Translation and Localization",
            "TRANSLATION_AND_LOCALIZATION",
            "咨询服务",
        ),
        (
            "Transportation/Trucking/Railroad",
            "TRANSPORTATION_TRUCKING_RAILROAD",
            "物流运输",
        ),
        ("Utilities", "UTILITIES", "政府及公共事业"),
        (
            "Venture Capital & Private Equity",
            "VENTURE_CAPITAL_PRIVATE_EQUITY",
            "金融",
        ),
        ("Veterinary", "VETERINARY", "医疗健康"),
        ("Warehousing", "WAREHOUSING", "物流运输"),
        ("Wholesale", "WHOLESALE", "批发"),
        ("Wine and Spirits", "WINE_AND_SPIRITS", "餐饮"),
        ("Wireless", "WIRELESS", "电信"),
        ("Writing and Editing", "WRITING_AND_EDITING", "文化传媒"),
    ],
    // 其他 has none: it stands for many HubSpot industries and choosing one would invent data.
    reverse: &[
        ("互联网", "Internet"),
        ("软件和信息技术服务", "Computer Software"),
        ("电子制造", "Electrical/Electronic Manufacturing"),
        ("金融", "Financial Services"),
        ("保险", "Insurance"),
        ("房地产", "Real Estate"),
        ("建筑", "Construction"),
        ("教育", "Education Management"),
        ("医疗健康", "Hospital & Health Care"),
        ("零售", "Retail"),
        ("批发", "Wholesale"),
        ("物流运输", "Logistics and Supply Chain"),
        ("制造业", "Machinery"),
        ("汽车", "Automotive"),
        ("能源", "Oil & Energy"),
        ("化工", "Chemicals"),
        ("农业", "Farming"),
        ("餐饮", "Food & Beverages"),
        ("酒店旅游", "Hospitality"),
        ("文化传媒", "Media Production"),
        ("政府及公共事业", "Government Administration"),
        ("电信", "Telecommunications"),
        ("咨询服务", "Management Consulting"),
    ],
};

/// HubSpot's default sales pipeline (`Deal Stage`) onto 销售阶段.
pub(crate) static DEAL_STAGE: ValueMap = ValueMap {
    property: "Deal Stage",
    entries: &[
        ("Appointment Scheduled", "appointmentscheduled", "初步接洽"),
        ("Qualified To Buy", "qualifiedtobuy", "需求确认"),
        ("Presentation Scheduled", "presentationscheduled", "方案报价"),
        ("Decision Maker Bought-In", "decisionmakerboughtin", "谈判审核"),
        ("Contract Sent", "contractsent", "谈判审核"),
        ("Closed Won", "closedwon", "赢单"),
        ("Closed Lost", "closedlost", "输单"),
    ],
    reverse: &[
        ("初步接洽", "Appointment Scheduled"),
        ("需求确认", "Qualified To Buy"),
        ("方案报价", "Presentation Scheduled"),
        ("谈判审核", "Contract Sent"),
        ("赢单", "Closed Won"),
        ("输单", "Closed Lost"),
    ],
};

/// HubSpot's `Lead Status` (`hs_lead_status`) onto 跟进状态.
pub(crate) static LEAD_STATUS: ValueMap = ValueMap {
    property: "Lead Status",
    entries: &[
        ("New", "NEW", "待跟进"),
        ("Open", "OPEN", "待跟进"),
        ("In Progress", "IN_PROGRESS", "跟进中"),
        ("Open Deal", "OPEN_DEAL", "已成交"),
        ("Unqualified", "UNQUALIFIED", "已流失"),
        ("Attempted to Contact", "ATTEMPTED_TO_CONTACT", "跟进中"),
        ("Connected", "CONNECTED", "跟进中"),
        ("Bad Timing", "BAD_TIMING", "待跟进"),
    ],
    reverse: &[
        ("待跟进", "New"),
        ("跟进中", "In Progress"),
        ("已成交", "Open Deal"),
        ("已流失", "Unqualified"),
    ],
};

/// The pipeline whose stages [`DEAL_STAGE`] lists; written beside every deal stage.
pub(crate) const SALES_PIPELINE: &str = "Sales Pipeline";

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use dataport_core::module::{FOLLOW_UP_STATUSES, INDUSTRIES, OPPORTUNITY_STAGES};

    use super::*;

    /// Every value lands in the dictionary, labels and internal names are unique, every
    /// dictionary value but the `unmapped` ones has exactly one label, and that label reads back
    /// to the same value.
    fn check(map: &ValueMap, dictionary: &[&str], unmapped: &[&str]) {
        let mut seen = HashSet::new();
        for (label, internal, canonical) in map.entries {
            assert!(dictionary.contains(canonical), "{label} → {canonical}");
            // A label may equal its own internal name (`Banking`, `BANKING`), not another's.
            let own: HashSet<String> = [label, internal].iter().map(|s| s.to_ascii_lowercase()).collect();
            for name in own {
                assert!(seen.insert(name), "{label} / {internal}: a name used twice");
            }
            assert_eq!(map.to_canonical(label), Some(*canonical));
            assert_eq!(map.to_canonical(internal), Some(*canonical));
        }
        for value in dictionary {
            match map.to_vendor(value) {
                Some(label) => {
                    assert!(!unmapped.contains(value), "{value}");
                    assert_eq!(map.to_canonical(label), Some(*value), "{value} → {label}");
                }
                None => assert!(unmapped.contains(value), "{value} has no {}", map.property),
            }
        }
        assert_eq!(map.reverse.len() + unmapped.len(), dictionary.len());
    }

    #[test]
    fn tables_agree_with_the_dictionaries() {
        check(&INDUSTRY, INDUSTRIES, &["其他"]);
        assert_eq!(INDUSTRY.entries.len(), 148);
        check(&DEAL_STAGE, OPPORTUNITY_STAGES, &[]);
        check(&LEAD_STATUS, FOLLOW_UP_STATUSES, &[]);
    }

    /// The README's tables are these tables, row for row.
    #[test]
    fn the_readme_prints_these_tables() {
        let readme = include_str!("../README.md");
        let mut rows = 0;
        for map in [&INDUSTRY, &DEAL_STAGE, &LEAD_STATUS] {
            for (label, internal, canonical) in map.entries {
                let row = format!("\n| {label} | `{internal}` | {canonical} |\n");
                assert!(readme.contains(&row), "the README lacks {row}");
                rows += 1;
            }
            for (canonical, label) in map.reverse {
                let row = format!("\n| {canonical} | {label} |\n");
                assert!(readme.contains(&row), "the README lacks {row}");
            }
        }
        let printed = readme
            .lines()
            .filter(|l| l.starts_with("| ") && l.matches('|').count() == 4 && l.matches(" | `").count() == 1)
            .filter(|l| l.split(" | `").nth(1).is_some_and(|rest| rest.contains("` | ")))
            .count();
        assert_eq!(printed, rows, "the README has value rows the tables do not");
    }

    #[test]
    fn lookups_trim_and_ignore_ascii_case() {
        assert_eq!(
            INDUSTRY.to_canonical("  computer software "),
            Some("软件和信息技术服务")
        );
        assert_eq!(
            INDUSTRY.to_canonical("Information Technology And Services"),
            Some("软件和信息技术服务")
        );
        assert_eq!(INDUSTRY.to_canonical("hospital_health_care"), Some("医疗健康"));
        assert_eq!(INDUSTRY.to_canonical("Space Mining"), None);
        assert_eq!(INDUSTRY.to_canonical(""), None);
        assert_eq!(DEAL_STAGE.to_canonical("CLOSEDWON"), Some("赢单"));
        assert_eq!(LEAD_STATUS.to_canonical("attempted to contact"), Some("跟进中"));
        assert_eq!(INDUSTRY.to_vendor("其他"), None);
        assert_eq!(DEAL_STAGE.to_vendor("谈判审核"), Some("Contract Sent"));
    }
}
