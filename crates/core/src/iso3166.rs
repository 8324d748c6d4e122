//! Country names in configuration: ISO 3166-1 alpha-2 codes, checked against the assigned list.
//!
//! Every file key and value that names a country (scenario countries and targets, carriers,
//! `geo_allow`, country caps and rules in `--sms-defences` files, cost mixes) goes through
//! [`check`], usually by way of [`crate::conf::Iso`], so a typo is refused the same way
//! everywhere, with a suggestion where one is clear: `UK` → `GB`, `gb` → `GB`, `DEU` → `DE`.
//! Two capitals are not enough: `UK` and `XX` look like codes, and `geo_allow = ["UK"]` would
//! block every British user.
//!
//! Source: the 249 officially assigned codes with their alpha-3 twins, as listed in
//! github.com/datasets/country-codes, `data/country-codes.csv` (columns `ISO3166-1-Alpha-2`,
//! `ISO3166-1-Alpha-3`) @ caa72d1e0e5af8876c170bb36a9e4d64a01bba88 (2026-05-15), data under
//! ODC-PDDL-1.0. One addition: `XK`, Kosovo, a user-assigned code (not in ISO 3166-1) that the
//! European Commission and libphonenumber use and that telecom price lists carry.

/// Each assigned alpha-2 code followed by its alpha-3 code, in alpha-2 order.
const ASSIGNED: &str = "\
    ADAND AEARE AFAFG AGATG AIAIA ALALB AMARM AOAGO AQATA ARARG ASASM ATAUT AUAUS AWABW AXALA \
    AZAZE BABIH BBBRB BDBGD BEBEL BFBFA BGBGR BHBHR BIBDI BJBEN BLBLM BMBMU BNBRN BOBOL BQBES \
    BRBRA BSBHS BTBTN BVBVT BWBWA BYBLR BZBLZ CACAN CCCCK CDCOD CFCAF CGCOG CHCHE CICIV CKCOK \
    CLCHL CMCMR CNCHN COCOL CRCRI CUCUB CVCPV CWCUW CXCXR CYCYP CZCZE DEDEU DJDJI DKDNK DMDMA \
    DODOM DZDZA ECECU EEEST EGEGY EHESH ERERI ESESP ETETH FIFIN FJFJI FKFLK FMFSM FOFRO FRFRA \
    GAGAB GBGBR GDGRD GEGEO GFGUF GGGGY GHGHA GIGIB GLGRL GMGMB GNGIN GPGLP GQGNQ GRGRC GSSGS \
    GTGTM GUGUM GWGNB GYGUY HKHKG HMHMD HNHND HRHRV HTHTI HUHUN IDIDN IEIRL ILISR IMIMN ININD \
    IOIOT IQIRQ IRIRN ISISL ITITA JEJEY JMJAM JOJOR JPJPN KEKEN KGKGZ KHKHM KIKIR KMCOM KNKNA \
    KPPRK KRKOR KWKWT KYCYM KZKAZ LALAO LBLBN LCLCA LILIE LKLKA LRLBR LSLSO LTLTU LULUX LVLVA \
    LYLBY MAMAR MCMCO MDMDA MEMNE MFMAF MGMDG MHMHL MKMKD MLMLI MMMMR MNMNG MOMAC MPMNP MQMTQ \
    MRMRT MSMSR MTMLT MUMUS MVMDV MWMWI MXMEX MYMYS MZMOZ NANAM NCNCL NENER NFNFK NGNGA NINIC \
    NLNLD NONOR NPNPL NRNRU NUNIU NZNZL OMOMN PAPAN PEPER PFPYF PGPNG PHPHL PKPAK PLPOL PMSPM \
    PNPCN PRPRI PSPSE PTPRT PWPLW PYPRY QAQAT REREU ROROU RSSRB RURUS RWRWA SASAU SBSLB SCSYC \
    SDSDN SESWE SGSGP SHSHN SISVN SJSJM SKSVK SLSLE SMSMR SNSEN SOSOM SRSUR SSSSD STSTP SVSLV \
    SXSXM SYSYR SZSWZ TCTCA TDTCD TFATF TGTGO THTHA TJTJK TKTKL TLTLS TMTKM TNTUN TOTON TRTUR \
    TTTTO TVTUV TWTWN TZTZA UAUKR UGUGA UMUMI USUSA UYURY UZUZB VAVAT VCVCT VEVEN VGVGB VIVIR \
    VNVNM VUVUT WFWLF WSWSM YEYEM YTMYT ZAZAF ZMZMB ZWZWE";

/// Codes outside ISO 3166-1 that configuration may name, with why.
const EXTRA: &[&str] = &[
    "XK", // Kosovo: user-assigned, used by the EU, libphonenumber (+383) and price lists
];

/// Codes people write that ISO 3166-1 spells otherwise, with the code meant.
const LOOK_ALIKES: &[(&str, &str)] = &[
    ("UK", "GB"), // the United Kingdom (UK is only "exceptionally reserved")
    ("EL", "GR"), // Greece, as the EU writes it
    ("KV", "XK"), // Kosovo
    ("BU", "MM"), // Burma, withdrawn code
    ("ZR", "CD"), // Zaire, withdrawn code
    ("TP", "TL"), // East Timor, withdrawn code
    ("YU", "RS"), // Yugoslavia, withdrawn code
    ("AN", "CW"), // Netherlands Antilles, withdrawn (also BQ, SX)
];

fn pairs() -> impl Iterator<Item = (&'static str, &'static str)> {
    ASSIGNED
        .split_ascii_whitespace()
        .filter(|p| p.len() == 5)
        .map(|p| p.split_at(2))
}

/// Whether `code` is an assigned ISO 3166-1 alpha-2 code (or one of the documented extras),
/// exactly as written: upper case, two letters.
pub fn is_assigned(code: &str) -> bool {
    code.len() == 2
        && code.bytes().all(|b| b.is_ascii_uppercase())
        && (EXTRA.contains(&code) || pairs().any(|(a2, _)| a2 == code))
}

/// The code someone most likely meant by `written`, if one is clear: the upper-case spelling,
/// a look-alike's ISO code or an alpha-3 code's alpha-2 twin.
pub fn suggest(written: &str) -> Option<&'static str> {
    let upper = written.trim().to_ascii_uppercase();
    if let Some((_, right)) = LOOK_ALIKES.iter().find(|(wrong, _)| *wrong == upper) {
        return Some(right);
    }
    if let Some(extra) = EXTRA.iter().find(|e| **e == upper) {
        return Some(extra);
    }
    pairs()
        .find(|(a2, a3)| *a2 == upper || *a3 == upper)
        .map(|(a2, _)| a2)
}

/// Checks a country code as a file writes it; the error says what is wrong and, where clear,
/// which code was meant (`"UK" is not an ISO 3166-1 alpha-2 country code; did you mean GB?`).
pub fn check(written: &str) -> Result<(), String> {
    if is_assigned(written) {
        return Ok(());
    }
    let hint = match suggest(written) {
        Some(right) => format!("; did you mean {right}?"),
        None => String::new(),
    };
    Err(format!(
        "{written:?} is not an ISO 3166-1 alpha-2 country code like \"US\"{hint}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_has_every_assigned_code_once_in_order() {
        let codes: Vec<&str> = pairs().map(|(a2, _)| a2).collect();
        assert_eq!(codes.len(), 249, "ISO 3166-1 assigns 249 codes");
        assert_eq!(
            ASSIGNED.split_ascii_whitespace().count(),
            249,
            "every entry is alpha-2 + alpha-3"
        );
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
        let a3: std::collections::BTreeSet<&str> = pairs().map(|(_, a3)| a3).collect();
        assert_eq!(a3.len(), 249);
        for (wrong, right) in LOOK_ALIKES {
            assert!(!is_assigned(wrong), "{wrong}");
            assert!(is_assigned(right), "{right}");
        }
    }

    #[test]
    fn assigned_codes_pass_and_typos_get_a_suggestion() {
        for ok in ["US", "GB", "GG", "IM", "JE", "KZ", "PR", "AQ", "XK", "VA"] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for (bad, hint) in [
            ("UK", Some("GB")),
            ("gb", Some("GB")),
            ("Us", Some("US")),
            ("GBR", Some("GB")),
            ("deu", Some("DE")),
            ("EL", Some("GR")),
            ("XX", None),
            ("ZZ", None),
            ("", None),
            ("U", None),
            ("ÜK", None),
        ] {
            let err = check(bad).expect_err(bad);
            assert!(
                err.starts_with(&format!("{bad:?} is not an ISO 3166-1")),
                "{err}"
            );
            match hint {
                Some(h) => assert!(err.ends_with(&format!("did you mean {h}?")), "{err}"),
                None => assert!(!err.contains("did you mean"), "{err}"),
            }
        }
    }
}
