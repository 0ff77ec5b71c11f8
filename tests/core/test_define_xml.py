"""The ADaM metadata (hepatrial.core.export.adam_spec) and its Define-XML 2.0 document
(hepatrial.core.export.define_xml): every exported column is described, names and labels
keep the ADaM IG limits, the codelists hold what the datasets write, and the document is
well-formed with every reference resolved. Not schema-validated (no Define-XML XSD here)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta
from typing import get_args

import pytest

from hepatrial.core.candidate import Candidate
from hepatrial.core.export import adam, adam_spec
from hepatrial.core.export.adam_spec import MetadataError
from hepatrial.core.export.define_xml import DEF_NS, ODM_NS, XLINK_NS, define_xml, observed_lengths
from hepatrial.core.protocol import load_protocol

NS = {"odm": ODM_NS, "def": DEF_NS}
DAY0 = date(2026, 3, 2)
ARMS = [("msc_ev", "MSC-EV group"), ("control", "Non-MSC-EV group")]


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


def build(datasets=None, **kw) -> str:
    args = dict(study_oid="NCT05940610", study_name="NCT05940610", protocol_name="NCT05940610",
                description="MSC-EVs in ACLF and ALF", created="2026-05-01T09:30:00")  # fmt: skip
    args.update(kw)
    return define_xml(adam.DATASETS if datasets is None else datasets, **args)


def parse(text: str) -> ET.Element:
    return ET.fromstring(text.encode("utf-8"))


def subject(sid="SYSU3-001", **kw) -> adam.SubjectData:
    values = {t: 1.0 for t in adam.LAB_PARAMS} | {"total_bilirubin": 250.0, "inr": 2.1, "creatinine": 90.0}
    base = dict(subject_id=sid, site="SYSU3", age=52, sex="male", presentation="ACLF", arm="msc_ev", arm_label="MSC-EV group",
                randomized_on=DAY0, doses=[day(0), day(7), day(14), day(21)], last_known_alive=day(90),
                labs=[adam.LabSample("day_0", "Day 0", 0, day(0), values),
                      adam.LabSample("day_7", "Day 7", 7, day(7), values | {"total_bilirubin": 300.0})])  # fmt: skip
    base.update(kw)
    return adam.SubjectData(**base)


# --- the metadata ------------------------------------------------------------------------------


def test_every_exported_column_has_metadata():
    """Fails when a column is added to adam.DATASETS without its metadata in adam_spec."""
    assert adam_spec.missing_metadata(adam.DATASETS) == []
    for name, columns in adam.DATASETS.items():
        for column in columns:
            assert adam_spec.variable(name, column).label


def test_metadata_for_absent_columns_is_reported_not_ignored():
    unused = adam_spec.unused_metadata(adam.DATASETS)
    for name, extra in unused.items():
        given = adam.DATASETS.get(name.lower(), [])
        assert extra and not set(extra) & set(given)
        assert set(extra) | set(given) >= set(adam_spec.DATASET_SPECS[name].variables)
    assert adam_spec.unused_metadata({"adsl": ["STUDYID"]})["ADSL"][:2] == ["USUBJID", "SUBJID"]
    assert "ADEX" in adam_spec.unused_metadata({"adsl": adam.ADSL_COLUMNS})


def test_names_labels_types_and_origins_keep_the_standards():
    for name, spec in adam_spec.DATASET_SPECS.items():
        assert re.fullmatch(r"[A-Z][A-Z0-9]{0,7}", name) and len(spec.label) <= 40
        assert spec.klass in (adam_spec.ADSL_CLASS, adam_spec.BDS_CLASS, adam_spec.OCCDS_CLASS)
        assert set(spec.keys) <= set(spec.variables)
        for column, var in spec.variables.items():
            where = f"{name}.{column}"
            assert re.fullmatch(r"[A-Z][A-Z0-9]{0,7}", column), where  # ADaM IG: <= 8 characters
            assert 0 < len(var.label) <= 40, where  # ADaM IG: labels <= 40 characters
            assert var.data_type in adam_spec.DATA_TYPES and var.origin in adam_spec.ORIGIN_TYPES, where
            assert var.origin != "Derived" or var.comment.endswith("."), where  # a derivation, one sentence
            assert var.origin not in ("Predecessor", "CRF") or var.source, where
            assert var.codelist is None or var.codelist in adam_spec.CODELISTS or var.codelist in adam_spec.DYNAMIC_CODELISTS
            assert var.data_type != "text" or var.length or var.codelist, where
    assert adam_spec.DATASET_SPECS["ADSL"].klass == "SUBJECT LEVEL ANALYSIS DATASET"
    assert adam_spec.DATASET_SPECS["ADAE"].klass == "OCCURRENCE DATA STRUCTURE"
    assert {adam_spec.DATASET_SPECS[n].klass for n in ("ADTTE", "ADLB", "ADEX")} == {"BASIC DATA STRUCTURE"}


def test_parameters_match_what_the_datasets_write():
    s = subject(died_on=day(40), last_known_alive=day(39))
    tte = {(r["PARAMCD"], r["PARAM"]) for r in adam.adtte([s], [28, 84, 168])}
    assert tte == set(adam_spec.tte_params([28, 84, 168]))
    assert adam_spec.param_values()["ADTTE"] == adam_spec.tte_params(load_protocol().parameter("survival_horizons_days"))
    lab = {(r["PARAMCD"], r["PARAM"]) for r in adam.adlb([s])}
    assert lab == set(adam_spec.param_values()["ADLB"])
    infusion = adam.Infusion("day_0", "Day 0", 0, datetime(2026, 3, 2, 10), None, 100.0, 1e10)
    ex = {(r["PARAMCD"], r["PARAM"]) for r in adam.adex([subject(infusions=[infusion])])}
    assert ex == set(adam_spec.param_values()["ADEX"])


def test_codelists_hold_the_values_the_datasets_write():
    def codes(key):
        return {c for c, _ in adam_spec.CODELISTS[key].items} | {""}

    units = {r["AVALU"] for r in adam.adlb([subject()])}
    assert units <= codes("ADLB.AVALU")
    sexes = {r["SEX"] for r in adam.adsl([subject(sex=x) for x in ("male", "female", None)])}
    assert sexes == {"M", "F", "U"} <= codes("SEX")
    presentations = {v for a in get_args(Candidate.model_fields["presentation"].annotation) for v in get_args(a)}
    assert presentations == codes("STRAT1R") - {""}
    ae = load_protocol().form("adverse_event")
    for key, field, terms in (("AEREL", "relationship", adam.AE_RELATIONSHIPS), ("AEOUT", "outcome", adam.AE_OUTCOMES),
                              ("AEACN", "action_taken", adam.AE_ACTIONS)):  # fmt: skip
        assert {c.value for c in ae.field(field).choices} == set(terms), key  # every form choice has its term
        assert set(terms.values()) == codes(key) - {""}, key
    assert {c.value for c in ae.field("grade").choices} == codes("AETOXGR") - {""}


def test_disposition_values_are_in_their_codelists():
    seen = set()
    for died in (None, day(10)):
        for transplanted in (None, day(5)):
            for withdrawn, scope in ((None, ""), (day(3), "no_further_treatment"), (day(3), "no_further_data")):
                for doses in ([day(0)], [day(0), day(7), day(14), day(21)]):
                    for alive in (day(20), day(170)):
                        s = subject(died_on=died, transplanted_on=transplanted, withdrawn_on=withdrawn, withdrawal_scope=scope,
                                    doses=doses, last_known_alive=alive, dosing_ends_day=24, follow_up_day=168,
                                    follow_up_window=7)  # fmt: skip
                        for cutoff in (day(22), day(400)):
                            seen.add(adam.disposition(s, cutoff))

    def codes(key):
        return {c for c, _ in adam_spec.CODELISTS[key].items} | {""}

    assert {d.treatment for d in seen} | {d.study for d in seen} <= codes("STATUS")
    assert {d.treatment_reason for d in seen} <= codes("DCTREAS")
    assert {d.study_reason for d in seen} <= codes("DCSREAS")


# --- the document ------------------------------------------------------------------------------


def test_the_document_is_well_formed_and_every_reference_resolves():
    text = build(arms=ARMS)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = parse(text)
    mdv = root.find("odm:Study/odm:MetaDataVersion", NS)
    assert root.get("ODMVersion") == "1.3.2" and root.get("CreationDateTime") == "2026-05-01T09:30:00"
    assert mdv.get(f"{{{DEF_NS}}}DefineVersion") == "2.0.0"
    assert (mdv.get(f"{{{DEF_NS}}}StandardName"), mdv.get(f"{{{DEF_NS}}}StandardVersion")) == ("ADaM-IG", "1.3")

    def oids(path, attr="OID"):
        return [e.get(attr) for e in mdv.findall(path, NS)]

    groups, items, lists = oids("odm:ItemGroupDef"), oids("odm:ItemDef"), oids("odm:CodeList")
    methods, comments, leaves = oids("odm:MethodDef"), oids("def:CommentDef"), oids("odm:ItemGroupDef/def:leaf", "ID")
    every = groups + items + lists + methods + comments + leaves
    assert len(every) == len(set(every))  # OIDs unique
    refs = mdv.findall("odm:ItemGroupDef/odm:ItemRef", NS)
    assert {r.get("ItemOID") for r in refs} == set(items)  # every ItemDef used, every ItemRef defined
    assert {r.get("MethodOID") for r in refs if r.get("MethodOID")} == set(methods)
    assert {e.get("CodeListOID") for e in mdv.iter(f"{{{ODM_NS}}}CodeListRef")} == set(lists)
    comment_refs = {e.get(f"{{{DEF_NS}}}CommentOID") for e in mdv if e.get(f"{{{DEF_NS}}}CommentOID")}
    assert comment_refs == set(comments)
    assert {g.get(f"{{{DEF_NS}}}ArchiveLocationID") for g in mdv.findall("odm:ItemGroupDef", NS)} == set(leaves)
    for item in mdv.findall("odm:ItemDef", NS):  # a derived variable always has its method
        if item.find("def:Origin", NS).get("Type") == "Derived":
            assert all(r.get("MethodOID") for r in refs if r.get("ItemOID") == item.get("OID")), item.get("OID")
    for cl in mdv.findall("odm:CodeList", NS):
        assert len(cl) > 0 and all(i.find("odm:Decode/odm:TranslatedText", NS) is not None
                                   for i in cl.findall("odm:CodeListItem", NS))  # fmt: skip


def test_one_item_group_per_dataset_pointing_at_its_csv_file():
    root = parse(build())
    groups = root.findall("odm:Study/odm:MetaDataVersion/odm:ItemGroupDef", NS)
    assert [g.get("Name") for g in groups] == [n.upper() for n in adam.DATASETS]
    for group, (name, columns) in zip(groups, adam.DATASETS.items()):
        leaf = group.find("def:leaf", NS)
        assert leaf.get(f"{{{XLINK_NS}}}href") == f"{name}.csv" == leaf.find("def:title", NS).text
        assert group.get("Purpose") == "Analysis"
        assert group.get(f"{{{DEF_NS}}}Class") == adam_spec.DATASET_SPECS[name.upper()].klass
        refs = group.findall("odm:ItemRef", NS)
        assert [int(r.get("OrderNumber")) for r in refs] == list(range(1, len(columns) + 1))
        assert [r.get("ItemOID").split(".")[-1] for r in refs] == columns
        keyed = sorted((int(r.get("KeySequence")), r.get("ItemOID").split(".")[-1]) for r in refs if r.get("KeySequence"))
        assert [k for k, _ in keyed] == list(range(1, len(keyed) + 1))
        assert [v for _, v in keyed] == [k for k in adam_spec.DATASET_SPECS[name.upper()].keys if k in columns]
    two = parse(build({"adsl": adam.ADSL_COLUMNS, "adae": adam.ADAE_COLUMNS}))
    assert len(two.findall(".//odm:ItemGroupDef", NS)) == 2


def item_def(root: ET.Element, oid: str) -> ET.Element:
    found = root.find(f".//odm:ItemDef[@OID='{oid}']", NS)
    assert found is not None, oid
    return found


def codelist_values(root: ET.Element, oid: str) -> list[tuple[str, str | None]]:
    cl = root.find(f".//odm:CodeList[@OID='{oid}']", NS)
    return [(i.get("CodedValue"), i.findtext("odm:Decode/odm:TranslatedText", None, NS)) for i in cl]


def test_specific_item_defs():
    root = parse(build(arms=ARMS))
    ittfl = item_def(root, "IT.ADSL.ITTFL")
    assert (ittfl.get("DataType"), ittfl.get("Length")) == ("text", "1")
    assert ittfl.findtext("odm:Description/odm:TranslatedText", None, NS) == "Intent-To-Treat Population Flag"
    assert ittfl.find("def:Origin", NS).get("Type") == "Derived"
    assert ittfl.find("odm:CodeListRef", NS).get("CodeListOID") == "CL.NY"
    assert codelist_values(root, "CL.NY") == [("N", "No"), ("Y", "Yes")]
    method = root.find(".//odm:MethodDef[@OID='MT.ADSL.ITTFL']", NS)
    assert "randomized" in method.findtext("odm:Description/odm:TranslatedText", None, NS)

    age = item_def(root, "IT.ADSL.AGE")
    assert (age.get("DataType"), age.find("def:Origin", NS).get("Type")) == ("integer", "CRF")
    assert age.findtext("def:Origin/odm:Description/odm:TranslatedText", None, NS) == "Screening: age"
    randdt = item_def(root, "IT.ADSL.RANDDT")
    assert randdt.get("DataType") == "date" and randdt.get("Length") is None  # no Length for dates

    studyid = item_def(root, "IT.STUDYID")  # the same in every dataset: defined once
    assert studyid.get("Length") == str(len(adam.STUDYID))
    assert root.find(".//odm:ItemDef[@OID='IT.ADSL.STUDYID']", NS) is None
    assert item_def(root, "IT.ADTTE.AVAL").get("DataType") == "integer"  # AVAL differs: one per dataset
    assert item_def(root, "IT.ADLB.AVAL").get("DataType") == "float"

    cnsr = item_def(root, "IT.ADTTE.CNSR")
    assert cnsr.find("odm:CodeListRef", NS).get("CodeListOID") == "CL.CNSR"
    assert codelist_values(root, "CL.CNSR") == [("0", "Event"), ("1", "Censored")]
    assert ("MELD", adam.MELD_PARAM[1]) in codelist_values(root, "CL.ADLB.PARAMCD")
    assert codelist_values(root, "CL.ADTTE.PARAMCD")[:2] == [("TFS84", "Transplant-free survival to day 84"),
                                                             ("OS84", "Overall survival to day 84")]  # fmt: skip
    assert [c for c, _ in codelist_values(root, "CL.ACTARMCD")] == ["MSC_EV", "CONTROL", "NOTASSGN", "NOTTRT"]
    assert [c for c, _ in codelist_values(root, "CL.SEX")] == ["F", "M", "U"]
    assert item_def(root, "IT.ADLB.ATOXGR").find("odm:CodeListRef", NS).get("CodeListOID") == "CL.TOXGR"


def test_params_lengths_and_arms_come_from_the_caller():
    root = parse(build(params={"adtte": adam_spec.tte_params([28])}, lengths={"adsl": {"USUBJID": 21, "SITEID": 0}}))
    assert [c for c, _ in codelist_values(root, "CL.ADTTE.PARAMCD")] == ["TFS28", "OS28"]
    # ADSL's observed length makes USUBJID differ between datasets: it is then defined per dataset
    assert root.find(".//odm:ItemDef[@OID='IT.USUBJID']", NS) is None
    assert (item_def(root, "IT.ADSL.USUBJID").get("Length"), item_def(root, "IT.ADAE.USUBJID").get("Length")) == ("21", "40")
    assert item_def(root, "IT.ADSL.SITEID").get("Length") == "20"  # observed 0 (all empty): the nominal length
    assert root.find(".//odm:CodeList[@OID='CL.ARMCD']", NS) is None  # no arms given: no arm codelist
    assert item_def(root, "IT.ADSL.ARMCD").find("odm:CodeListRef", NS) is None
    rows = adam.adsl([subject(), subject("SYSU3-0002")])
    assert observed_lengths(rows, ["USUBJID", "DTHDT"]) == {"USUBJID": len("NCT05940610-SYSU3-0002"), "DTHDT": 0}


def test_an_unknown_column_or_dataset_is_an_error_naming_it():
    with pytest.raises(MetadataError, match=r"ADSL\.FOOBAR"):
        build({"adsl": ["STUDYID", "USUBJID", "FOOBAR"]})
    with pytest.raises(MetadataError, match="ADXX"):
        build({"adxx": ["STUDYID"]})
    with pytest.raises(ValueError, match="twice"):
        build({"adsl": ["STUDYID", "STUDYID"]})
    with pytest.raises(ValueError, match="created"):
        build(created="2026-05-01")


def test_the_document_is_deterministic_and_dated_only_by_created():
    assert build() == build()
    text = build(created="2031-12-24T23:59:00")
    assert re.findall(r"\d{4}-\d{2}-\d{2}", text) == ["2031-12-24"]
