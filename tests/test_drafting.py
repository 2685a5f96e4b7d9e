"""One drafting path (prepare once, then render or generate) and the files it makes: every form
error at once, the change-reason rule in one place, byte-reproducible DOCX with the document's
own title and author, safe output file names that never overwrite without --force, PDF
renditions fetched from the CLI, PDF/A and metric-compatible fonts — SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import docx
import pytest
from click.testing import CliRunner

from docsvc.app import open_docsvc
from docsvc.cli import cli
from docsvc.core.filenames import document_filename
from docsvc.core.schema import TemplateSchema
from docsvc.errors import InvalidInput
from docsvc.services.archive import change_reason_problem
from docsvc.services.users import Principal, Role
from tests.webutil import world  # noqa: F401 - the world fixture

SHIPPED = Path(__file__).resolve().parents[1] / "templates"


@pytest.fixture
def svc(config):
    s = open_docsvc({**config, "TEMPLATES_DIR": str(SHIPPED)})
    yield s
    s.close()


@pytest.fixture
def run(config):
    env = {
        "DOCSVC_ARCHIVE_DIR": config["ARCHIVE_DIR"],
        "DOCSVC_INDEX_DIR": config["INDEX_DIR"],
        "DOCSVC_DATABASE_URL": config["DATABASE_URL"],
        "DOCSVC_TEMPLATES_DIR": str(SHIPPED),
        "DOCSVC_ACTOR": "起草人",
    }

    def invoke(*args: str, code: int = 0):
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == code, result.output + result.stderr
        return result

    return invoke


def _drafter(svc):
    return svc.guard(Principal("drafter", Role.DRAFTER))


def test_every_problem_of_a_revision_is_reported_at_once(svc):
    data = svc.templates.get("sla").schema.sample()
    doc = svc.templates.generate("sla", data, actor="起草人").document
    bad = {**data, "party_a": {**data["party_a"], "name": ""}}
    with pytest.raises(InvalidInput) as err:
        svc.templates.prepare("sla", bad, document_id=doc.id, reason=" ")
    fields = [e["field"] for e in err.value.details["errors"]]
    assert fields == ["reason", "party_a.name"]
    # One rule, one message: the archive's refusal of an upload without a reason says the same.
    reason_error = err.value.details["errors"][0]
    rule = change_reason_problem("")
    assert (reason_error["zh"], reason_error["en"]) == (rule.zh, rule.en)
    with pytest.raises(InvalidInput) as upload:
        svc.archive.add_version(doc.id, b"text", "a.txt", actor="a", reason="")
    assert upload.value.zh == rule.zh
    assert svc.catalog.counts()["versions"] == 1


def test_a_submit_loads_and_validates_once(svc, monkeypatch):
    """Through the Guard (as the web and the API call it): the schema validates the form once and
    the template's schema is parsed once however many times it is used."""
    gd = _drafter(svc)
    template = gd.drafting_template("sla")
    assert svc.templates.get("sla") is template  # parsed once, kept (a version never changes)
    calls = []
    original = TemplateSchema.check
    monkeypatch.setattr(TemplateSchema, "check", lambda self, data, **kw: calls.append(1) or original(self, data, **kw))
    generated = gd.generate(template, template.schema.sample())
    assert calls == [1] and generated.result.created


def test_identical_data_gives_identical_bytes_and_no_new_version(svc, run, tmp_path):
    data = svc.templates.get("contract").schema.sample()
    first = svc.templates.generate("contract", data, actor="起草人")
    again = svc.templates.render_draft(
        svc.templates.prepare("contract", data, document_id=first.document.id, reason="再次生成")
    ).docx
    assert hashlib.sha256(again).hexdigest() == first.version.sha256
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    out = json.loads(
        run(
            "generate",
            "contract",
            "--data",
            str(path),
            "--doc",
            str(first.document.id),
            "--reason",
            "重新生成",
            "--json",
        ).output
    )
    assert out["created"] is False and out["version"]["number"] == 1
    assert svc.catalog.counts()["versions"] == 1
    changed = {**data, "service_location": data["service_location"] + "（含备用机房）"}
    assert (
        svc.templates.generate(
            "contract", changed, actor="起草人", document_id=first.document.id, reason="增加备用机房"
        ).version.number
        == 2
    )


def test_docx_properties_are_the_documents_own(svc):
    data = svc.templates.get("contract").schema.sample()
    rendered = svc.templates.render("contract", data)
    props = docx.Document(io.BytesIO(rendered.docx)).core_properties
    assert props.title == data["title"]
    assert props.author == data["party_b"]["name"] == props.last_modified_by
    assert "python-docx" not in (props.comments or "")


def test_organization_is_the_author_when_the_template_names_none(config):
    s = open_docsvc({**config, "TEMPLATES_DIR": str(SHIPPED), "ORGANIZATION": "大连某信息技术有限公司"})
    try:
        rendered = s.templates.render("change_request", s.templates.get("change_request").schema.sample())
        assert docx.Document(io.BytesIO(rendered.docx)).core_properties.author == "大连某信息技术有限公司"
    finally:
        s.close()


@pytest.mark.parametrize(
    "title, name",
    [
        ("运维/开发服务合同", "运维／开发服务合同.docx"),
        ('A\\B: C*D?"E"<F>|G', "A＼B： C＊D？＂E＂＜F＞｜G.docx"),
        ("  .合同\x00\u202e. ", "合同.docx"),
        ("CON", "CON_.docx"),
        ("", "document.docx"),
    ],
)
def test_file_names_keep_the_whole_title(title, name):
    assert document_filename(title, "docx") == name


def test_a_very_long_title_is_cut_only_to_what_a_file_system_holds():
    name = document_filename("信息系统运维服务合同" * 30, "docx")
    assert len(name.encode()) <= 255
    assert name.endswith("….docx") and name.startswith("信息系统运维服务合同")


@pytest.mark.slow
def test_titles_with_slashes_are_separate_files_and_never_overwritten(svc, run, tmp_path):
    data = svc.templates.get("sla").schema.sample()
    out = tmp_path / "out"
    out.mkdir()

    def form(n: int, title: str) -> Path:
        path = tmp_path / f"d{n}.json"
        path.write_text(
            json.dumps({**data, "title": title, "sla_no": f"{data['sla_no']}-{n}"}, ensure_ascii=False), "utf-8"
        )
        return path

    for n, title in enumerate(("运维/一期 服务等级协议", "运维/二期 服务等级协议")):
        run("generate", "sla", "--data", str(form(n, title)), "-o", str(out))
    assert sorted(p.name for p in out.iterdir()) == ["运维／一期 服务等级协议.docx", "运维／二期 服务等级协议.docx"]
    # The same title again (another SLA): refused before anything is archived.
    path = form(2, "运维/二期 服务等级协议")
    refused = run("generate", "sla", "--data", str(path), "-o", str(out), code=2)
    assert "--force" in refused.stderr and "已存在" in refused.stderr
    assert svc.catalog.counts()["documents"] == 2
    run("generate", "sla", "--data", str(path), "-o", str(out), "--force")
    # doc get refuses to overwrite too.
    target = out / "运维／二期 服务等级协议.docx"
    first = svc.archive.version(1).sha256
    assert "--force" in run("doc", "get", "1", "-o", str(target), code=2).stderr
    run("doc", "get", "1", "-o", str(target), "--force")
    assert target.read_bytes() == svc.blobs.read(first)


def test_batch_writes_to_output_folder(svc, run, tmp_path):
    import csv

    data = svc.templates.get("acceptance_report").schema.sample()
    flat = {k: (json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v) for k, v in data.items()}
    path = tmp_path / "rows.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(flat))
        w.writeheader()
        w.writerow(flat)
        # The same title twice (each report its own number): two files, neither overwritten.
        w.writerow({**flat, "report_no": flat["report_no"] + "-2"})
    out = tmp_path / "batch"
    out.mkdir()
    report = json.loads(run("generate", "acceptance_report", "--batch", str(path), "-o", str(out), "--json").stdout)
    assert report["succeeded"] == 2
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 2 and any("第3行" in n for n in names), names
    assert run("generate", "acceptance_report", "--batch", str(path), "-o", str(tmp_path / "无此目录"), code=2)


@pytest.mark.sqlite_only
@pytest.mark.libreoffice
def test_pdf_rendition_metadata_fonts_and_pdfa(svc, run, tmp_path, unoserver_venv):
    import pypdf

    data = svc.templates.get("contract").schema.sample()
    path = tmp_path / "d.json"
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    made = json.loads(run("generate", "contract", "--data", str(path), "--pdfa", "--json").output)
    doc_id = made["document"]["id"]
    out = tmp_path / "out"
    out.mkdir()
    got = json.loads(run("doc", "get", str(doc_id), "--rendition", "pdf", "-o", str(out), "--json").output)
    pdf = Path(got["path"]).read_bytes()
    assert Path(got["path"]).name == document_filename(data["title"], "pdf")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert reader.metadata.title == data["title"] and reader.metadata.author == data["party_b"]["name"]
    xmp = reader.xmp_metadata
    assert xmp is not None and "pdfaid" in xmp.rdf_root.toxml()  # PDF/A identification
    fonts = {
        str(f.get_object().get("/BaseFont"))
        for page in reader.pages
        for f in (page.get("/Resources", {}).get("/Font", {}) or {}).values()
    }
    assert any("LiberationSerif" in f for f in fonts) and not any("DejaVu" in f for f in fonts), fonts
    # A document with no PDF says so.
    plain = svc.templates.generate("sla", svc.templates.get("sla").schema.sample(), actor="起草人")
    missing = run("doc", "get", str(plain.document.id), "--rendition", "pdf", "-o", str(out), code=2)
    assert "PDF" in missing.stderr


@pytest.fixture
def app(config):
    from docsvc.web.factory import create_app

    app = create_app({**config, "TEMPLATES_DIR": str(SHIPPED), "TESTING": True, "FSYNC": False})
    yield app
    app.extensions["docsvc"].close()


@pytest.mark.sqlite_only
@pytest.mark.libreoffice
def test_web_form_makes_a_pdfa_copy(world, unoserver_venv):
    import pypdf
    from werkzeug.datastructures import MultiDict

    from tests.test_web_templates import form_fields

    client = world.login("drafter")
    page = client.get("/templates/sla/generate?example=1")
    assert 'name="pdfa"' in page.data.decode()
    fields = [(k, v) for k, v in form_fields(page.data.decode()) if k not in ("pdf", "pdfa")]
    resp = client.post("/templates/sla/generate", data=MultiDict([*fields, ("pdfa", "1"), ("action", "generate")]))
    assert resp.status_code == 302, resp.data.decode()[:2000]
    doc_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    version = world.svc.archive.version(doc_id)
    (rendition,) = world.svc.catalog.renditions(version.id)
    assert rendition.to_dict()["pdfa"] is True  # the API's rendition says so too
    reader = pypdf.PdfReader(io.BytesIO(world.svc.blobs.read(rendition.sha256)))
    assert "pdfaid" in reader.xmp_metadata.rdf_root.toxml()
    # The document page says which copy is the archival one.
    page = client.get(f"/documents/{doc_id}").data.decode()
    assert 'class="download pdf pdfa" download>PDF/A</a>' in page, page


@pytest.mark.sqlite_only
@pytest.mark.libreoffice
def test_cold_converter_makes_pdfa_too(svc, soffice, tmp_path):
    """The cold path (one soffice per document, the fallback when no warm server can run)."""
    import pypdf

    from docsvc.adapters.pdf import SofficeConverter

    docx_bytes = svc.templates.render("sla", svc.templates.get("sla").schema.sample()).docx
    converter = SofficeConverter(soffice=soffice, work_dir=tmp_path / "cold")
    try:
        plain = pypdf.PdfReader(io.BytesIO(converter.convert(docx_bytes)))
        archival = pypdf.PdfReader(io.BytesIO(converter.convert(docx_bytes, pdf_a=True)))
    finally:
        converter.close()
    assert "pdfaid" in archival.xmp_metadata.rdf_root.toxml()
    assert plain.xmp_metadata is None or "pdfaid" not in plain.xmp_metadata.rdf_root.toxml()
