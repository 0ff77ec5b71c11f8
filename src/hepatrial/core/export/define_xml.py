"""A Define-XML 2.0 document for hepatrial's ADaM datasets.

Define-XML 2.0.0 is CDISC's ODM 1.3.2 extension (namespace
http://www.cdisc.org/ns/def/v2.0) that describes submitted datasets: one
ItemGroupDef per dataset (class, structure, key variables through ItemRef
KeySequence, and the file as a def:leaf), one ItemDef per variable (label, data
type, length, def:Origin, CodeListRef), the CodeLists of controlled values, a
MethodDef per derivation and a def:CommentDef per comment. Element order and
attributes follow the Define-XML 2.0 schemas (define-extension.xsd, define-ns.xsd
over ODM1-3-2-foundation.xsd) and the CDISC ADaM example that comes with them;
OIDs follow that example's conventions (IG., IT., CL., MT., COM., LF.).

The metadata is hepatrial.core.export.adam_spec; this module only lays it out.
A variable shared by several datasets with identical metadata is defined once
(IT.STUDYID), any other per dataset (IT.ADSL.AGE). A column without metadata is
an error naming the dataset and the column, never an empty definition. The
output is deterministic: the only date in it is the ``created`` argument.

Not done here: schema validation (no Define-XML XSD ships with hepatrial) and
value-level metadata (def:ValueListDef per PARAMCD).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hepatrial.core.export import adam_spec
from hepatrial.core.export.adam_spec import CodeList, MetadataError, Variable

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.0"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
DEFINE_VERSION = "2.0.0"
STANDARD_NAME = "ADaM-IG"
STANDARD_VERSION = "1.3"

ET.register_namespace("", ODM_NS)
ET.register_namespace("def", DEF_NS)
ET.register_namespace("xlink", XLINK_NS)


@dataclass(frozen=True)
class _Item:
    """One column of one dataset, resolved: its metadata, codelist key and length."""

    dataset: str
    name: str
    var: Variable
    codelist: str | None
    length: int | None

    def signature(self) -> tuple:
        return self.name, self.var, self.codelist, self.length


def _odm(tag: str) -> str:
    return f"{{{ODM_NS}}}{tag}"


def _def(tag: str) -> str:
    return f"{{{DEF_NS}}}{tag}"


def _sub(parent: ET.Element, tag: str, **attrs: Any) -> ET.Element:
    """A child element; attributes whose value is None are left out (keyword order kept)."""
    return ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items() if v is not None})


def _describe(parent: ET.Element, text: str, tag: str = "Description") -> ET.Element:
    """A Description (or a codelist item's Decode) holding ``text`` in English."""
    description = _sub(parent, _odm(tag))
    _sub(description, _odm("TranslatedText"), **{f"{{{XML_NS}}}lang": "en"}).text = text
    return description


def observed_lengths(rows: list[dict[str, Any]], columns: list[str]) -> dict[str, int]:
    """Column -> the longest value written (as text) in ``rows``: pass these as ``lengths``
    so the define states the data's real lengths."""
    return {c: max((len(str(r.get(c, ""))) for r in rows), default=0) for c in columns}


def _codelists(params: dict[str, list[tuple[str, str]]] | None, arms: list[tuple[str, str]] | None) -> dict[str, CodeList]:
    """Every codelist a variable may reference: the fixed ones, the datasets' PARAMCD (decoded
    by PARAM) and PARAM, and the arm codes when ``arms`` is given."""
    merged = adam_spec.param_values()
    merged.update({name.upper(): list(pairs) for name, pairs in (params or {}).items()})
    out = dict(adam_spec.CODELISTS)
    for name, pairs in merged.items():
        out[f"{name}.PARAMCD"] = CodeList(f"{name} Parameter Code", "text", tuple(pairs))
        decodes = list(dict.fromkeys(decode for _, decode in pairs))
        out[f"{name}.PARAM"] = CodeList(f"{name} Parameter", "text", tuple((d, "") for d in decodes))
    if arms:
        out.update(adam_spec.arm_codelists(list(arms)))
    return out


def _length(dataset: str, name: str, var: Variable, codelist: CodeList | None, observed: int | None) -> int | None:
    """ODM Length: none for dates; the SAS numeric length for numbers; for text the observed
    length, else the codelist's longest code, else the nominal length."""
    if var.data_type in ("date", "datetime"):
        return None
    if var.data_type != "text":
        return adam_spec.NUMERIC_LENGTH
    if observed:
        return observed
    if codelist is not None:
        return max(len(code) for code, _ in codelist.items)
    if var.length:
        return var.length
    raise MetadataError(f"{dataset}.{name}: a text variable needs a length, a codelist or observed lengths")


def _resolve(datasets: dict[str, list[str]], codelists: dict[str, CodeList],
             lengths: dict[str, dict[str, int]] | None) -> dict[str, list[_Item]]:  # fmt: skip
    lengths = {k.upper(): v for k, v in (lengths or {}).items()}
    out: dict[str, list[_Item]] = {}
    for raw_name, columns in datasets.items():
        name = raw_name.upper()
        if name in out:
            raise ValueError(f"dataset {name} given twice")
        if len(set(columns)) != len(columns):
            raise ValueError(f"{name}: a column is listed twice: {sorted(c for c in set(columns) if columns.count(c) > 1)}")
        items = []
        for column in columns:
            var = adam_spec.variable(name, column)
            if var.origin not in adam_spec.ORIGIN_TYPES or var.data_type not in adam_spec.DATA_TYPES:
                raise MetadataError(f"{name}.{column}: origin {var.origin!r} / data type {var.data_type!r} is not Define-XML 2.0's")
            if var.origin == "Derived" and not var.comment:
                raise MetadataError(f"{name}.{column} is derived but has no derivation")
            key = var.codelist if var.codelist in codelists else None
            length = _length(name, column, var, codelists.get(key) if key else None, lengths.get(name, {}).get(column))
            items.append(_Item(name, column, var, key, length))
        out[name] = items
    return out


def _shared_names(resolved: dict[str, list[_Item]]) -> set[str]:
    """Variables in two or more datasets with the same metadata everywhere: defined once."""
    by_name: dict[str, set[tuple]] = {}
    count: dict[str, int] = {}
    for items in resolved.values():
        for item in items:
            by_name.setdefault(item.name, set()).add(item.signature())
            count[item.name] = count.get(item.name, 0) + 1
    return {name for name, sigs in by_name.items() if len(sigs) == 1 and count[name] > 1}


def _oid(prefix: str, item: _Item, shared: set[str]) -> str:
    return f"{prefix}.{item.name}" if item.name in shared else f"{prefix}.{item.dataset}.{item.name}"


def _item_group(mdv: ET.Element, raw_name: str, items: list[_Item], shared: set[str]) -> None:
    name = raw_name.upper()
    spec = adam_spec.dataset_spec(name)
    present = [c.name for c in items]
    keys = [k for k in spec.keys if k in present]
    group = _sub(mdv, _odm("ItemGroupDef"), OID=f"IG.{name}", Name=name, Repeating="Yes" if spec.repeating else "No",
                 IsReferenceData="No", SASDatasetName=name, Purpose="Analysis",
                 **{_def("Structure"): spec.structure, _def("Class"): spec.klass, _def("CommentOID"): f"COM.{name}",
                    _def("ArchiveLocationID"): f"LF.{name}"})  # fmt: skip
    _describe(group, spec.label)
    for order, item in enumerate(items, start=1):
        _sub(group, _odm("ItemRef"), ItemOID=_oid("IT", item, shared), OrderNumber=order,
             Mandatory="Yes" if item.name in keys else "No",
             KeySequence=keys.index(item.name) + 1 if item.name in keys else None,
             MethodOID=_oid("MT", item, shared) if item.var.origin == "Derived" else None)  # fmt: skip
    leaf = _sub(group, _def("leaf"), ID=f"LF.{name}", **{f"{{{XLINK_NS}}}href": f"{raw_name.lower()}.csv"})
    _sub(leaf, _def("title")).text = f"{raw_name.lower()}.csv"


def _item_def(mdv: ET.Element, item: _Item, shared: set[str]) -> None:
    var = item.var
    comment = _oid("COM", item, shared) if var.comment and var.origin != "Derived" else None
    element = _sub(mdv, _odm("ItemDef"), OID=_oid("IT", item, shared), Name=item.name, DataType=var.data_type,
                   Length=item.length, SASFieldName=item.name, **{_def("CommentOID"): comment})  # fmt: skip
    _describe(element, var.label)
    if item.codelist:
        _sub(element, _odm("CodeListRef"), CodeListOID=f"CL.{item.codelist}")
    origin = _sub(element, _def("Origin"), Type=var.origin)
    if var.source:
        _describe(origin, var.source)


def _code_list(mdv: ET.Element, key: str, codelist: CodeList) -> None:
    element = _sub(mdv, _odm("CodeList"), OID=f"CL.{key}", Name=codelist.name, DataType=codelist.data_type)
    for order, (code, decode) in enumerate(codelist.items, start=1):
        if codelist.has_decodes:
            entry = _sub(element, _odm("CodeListItem"), CodedValue=code, OrderNumber=order)
            _describe(entry, decode or code, "Decode")
        else:
            _sub(element, _odm("EnumeratedItem"), CodedValue=code, OrderNumber=order)


def _check_created(created: str) -> None:
    try:
        datetime.fromisoformat(created)
    except ValueError:
        raise ValueError(f"created must be an ISO 8601 date-time (e.g. 2026-05-01T09:30:00), got {created!r}") from None
    if "T" not in created:
        raise ValueError(f"created must be an ISO 8601 date-time with a time, got {created!r}")


def define_xml(datasets: dict[str, list[str]], *, study_oid: str, study_name: str, protocol_name: str,
               description: str, created: str, params: dict[str, list[tuple[str, str]]] | None = None,
               arms: list[tuple[str, str]] | None = None, lengths: dict[str, dict[str, int]] | None = None) -> str:  # fmt: skip
    """The Define-XML 2.0 document (UTF-8 text) for ``datasets`` (name -> its columns in
    order, e.g. adam.DATASETS; each file is "<name>.csv").

    ``created``: the document's CreationDateTime (ISO 8601 date-time), its only date.
    ``params``: dataset -> (PARAMCD, PARAM) pairs for the PARAMCD codelists (default:
    adam_spec.param_values(), i.e. the survival horizons 84 and 168: pass the protocol's).
    ``arms``: the protocol's (arm id, label) pairs, for the ARMCD / ACTARMCD codelists
    (left out without them). ``lengths``: dataset -> column -> observed longest value
    (:func:`observed_lengths`), the Length of text variables (default: codelist or nominal).
    MetadataError if a dataset or column has no metadata in adam_spec."""
    _check_created(created)
    codelists = _codelists(params, arms)
    resolved = _resolve(datasets, codelists, lengths)
    shared = _shared_names(resolved)

    root = ET.Element(_odm("ODM"), {"FileType": "Snapshot", "FileOID": f"DEFINE.{study_oid}", "CreationDateTime": created,
                                    "ODMVersion": "1.3.2", "Originator": "hepatrial", "SourceSystem": "hepatrial"})  # fmt: skip
    study = _sub(root, _odm("Study"), OID=study_oid)
    globals_ = _sub(study, _odm("GlobalVariables"))
    _sub(globals_, _odm("StudyName")).text = study_name
    _sub(globals_, _odm("StudyDescription")).text = description
    _sub(globals_, _odm("ProtocolName")).text = protocol_name
    mdv = _sub(study, _odm("MetaDataVersion"), OID=f"MDV.{study_oid}.ADaMIG.{STANDARD_VERSION}",
               Name=f"{study_name}, ADaM data definitions", Description=f"{study_name}: ADaM analysis datasets",
               **{_def("DefineVersion"): DEFINE_VERSION, _def("StandardName"): STANDARD_NAME,
                  _def("StandardVersion"): STANDARD_VERSION})  # fmt: skip

    names = {raw.upper(): raw for raw in datasets}
    for name, items in resolved.items():
        _item_group(mdv, names[name], items, shared)
    defined: dict[str, _Item] = {}
    for items in resolved.values():
        for item in items:
            defined.setdefault(_oid("IT", item, shared), item)
    for item in defined.values():
        _item_def(mdv, item, shared)
    for key in dict.fromkeys(item.codelist for item in defined.values() if item.codelist):
        _code_list(mdv, key, codelists[key])
    for item in defined.values():
        if item.var.origin == "Derived":
            method = _sub(mdv, _odm("MethodDef"), OID=_oid("MT", item, shared),
                          Name=f"Algorithm to derive {_oid('MT', item, shared)[3:]}", Type="Computation")  # fmt: skip
            _describe(method, item.var.comment)
    for name in resolved:
        _describe(_sub(mdv, _def("CommentDef"), OID=f"COM.{name}"), adam_spec.dataset_spec(name).comment)
    for item in defined.values():
        if item.var.comment and item.var.origin != "Derived":
            _describe(_sub(mdv, _def("CommentDef"), OID=_oid("COM", item, shared)), item.var.comment)

    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
