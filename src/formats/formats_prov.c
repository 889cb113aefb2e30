/* formats: IVOA provenance (ProvDM 1.0 on W3C PROV-DM; ivoa.md §5) of one detection run, as
 * PROV-JSON (W3C member submission) and PROV-N. Identifiers are qualified names in the "otf"
 * namespace (the job URL prefix when served, urn:otf: offline); run parameters are attributes
 * of the activity. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats_int.h"

#define VOPROV_NS "http://www.ivoa.net/documents/ProvenanceDM/ns/voprov/"

/* Qualified-name local parts: [A-Za-z0-9_.-] only, so they parse in PROV-N and PROV-JSON. */
static void local_name(char *out, size_t cap, const char *prefix, const char *s)
{
    size_t n = (size_t)snprintf(out, cap, "%s", prefix);
    for (; s && *s && n + 1 < cap; s++)
        out[n++] = (char)((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                                  (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-'
                              ? *s
                              : '_');
    out[n < cap ? n : cap - 1] = '\0';
}

struct ids {
    char job[160], image[200], model[200], cat[200], software[64], owner[200];
};

static void make_ids(const struct otf_formats_run_info *info, struct ids *id)
{
    const char *job = info->job_id ? info->job_id : "local";
    local_name(id->job, sizeof(id->job), "otf:", job);
    snprintf(id->image, sizeof(id->image), "%s_image", id->job);
    snprintf(id->cat, sizeof(id->cat), "%s_catalogue", id->job);
    local_name(id->model, sizeof(id->model), "otf:model_",
               info->model_id ? info->model_id : "unknown");
    snprintf(id->software, sizeof(id->software), "otf:software");
    local_name(id->owner, sizeof(id->owner), "otf:owner_", info->owner);
}

static json_t *typed(const char *value, const char *type)
{
    return json_pack("{s:s, s:s}", "$", value, "type", type);
}

enum otf_status otf_formats_write_prov_json(FILE *f, const struct otf_detect_catalog *cat,
                                            const struct otf_formats_run_info *info,
                                            struct otf_errbuf *eb)
{
    struct ids id;
    char iso[OTF_TIME_ISO_LEN], buf[64];
    json_t *doc = json_object(), *o, *e, *a;
    enum otf_status rc = OTF_OK;

    make_ids(info, &id);
    json_object_set_new(doc, "prefix",
                        json_pack("{s:s, s:s}", "otf",
                                  info->id_base ? info->id_base : "urn:otf:", "voprov", VOPROV_NS));

    o = json_object();
    e = json_pack("{s:s}", "prov:label", "input image");
    if (info->input_name)
        json_object_set_new(e, "prov:location", json_string(info->input_name));
    if (info->input_sha256)
        json_object_set_new(e, "otf:sha256", json_string(info->input_sha256));
    if (info->hdu)
        json_object_set_new(e, "otf:hdu", json_string(info->hdu));
    json_object_set_new(o, id.image, e);
    e = json_pack("{s:s}", "prov:label", "model weights");
    if (info->model_id)
        json_object_set_new(e, "otf:model_id", json_string(info->model_id));
    if (info->model_sha256)
        json_object_set_new(e, "otf:sha256", json_string(info->model_sha256));
    json_object_set_new(o, id.model, e);
    e = json_pack("{s:s, s:I}", "prov:label", "source catalogue", "otf:n_sources",
                  (json_int_t)cat->n);
    json_object_set_new(o, id.cat, e);
    json_object_set_new(doc, "entity", o);

    a = json_pack("{s:s}", "prov:label", "YOLO-CIANNA source detection");
    /* PROV-JSON gives the activity times as plain xsd:dateTime strings */
    if (info->start_us)
        json_object_set_new(a, "prov:startTime", json_string(formats_iso(info->start_us, iso)));
    if (info->end_us)
        json_object_set_new(a, "prov:endTime", json_string(formats_iso(info->end_us, iso)));
    if (info->job_id)
        json_object_set_new(a, "otf:job_id", json_string(info->job_id));
    if (info->batch_id)
        json_object_set_new(a, "otf:batch_id", json_string(info->batch_id));
    if (info->backend)
        json_object_set_new(a, "otf:backend", json_string(info->backend));
    if (info->precision)
        json_object_set_new(a, "otf:precision", json_string(info->precision));
    if (info->winograd_layers > 0)
        json_object_set_new(a, "otf:winograd_layers", json_integer(info->winograd_layers));
    for (size_t i = 0; i < info->n_params; i++) {
        char key[96];
        local_name(key, sizeof(key), "otf:param_", info->params[i].name);
        json_object_set_new(a, key, json_string(info->params[i].value));
    }
    snprintf(buf, sizeof(buf), "%lld", (long long)(cat->geometry.nx * cat->geometry.ny));
    json_object_set_new(a, "otf:n_patches", json_string(buf));
    json_object_set_new(doc, "activity", json_pack("{s:o}", id.job, a));

    o = json_object();
    json_object_set_new(o, id.software,
                        json_pack("{s:o, s:s}", "prov:type",
                                  typed("prov:SoftwareAgent", "prov:QUALIFIED_NAME"), "prov:label",
                                  info->software));
    if (info->owner)
        json_object_set_new(o, id.owner,
                            json_pack("{s:o, s:s}", "prov:type",
                                      typed("prov:Person", "prov:QUALIFIED_NAME"), "prov:label",
                                      info->owner));
    json_object_set_new(doc, "agent", o);

    json_object_set_new(doc, "used",
                        json_pack("{s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}}", "_:u1", "prov:activity",
                                  id.job, "prov:entity", id.image, "prov:role", "image", "_:u2",
                                  "prov:activity", id.job, "prov:entity", id.model, "prov:role",
                                  "model"));
    o = json_pack("{s:{s:s, s:s, s:s}}", "_:g1", "prov:entity", id.cat, "prov:activity", id.job,
                  "prov:role", "catalogue");
    if (info->end_us)
        json_object_set_new(json_object_get(o, "_:g1"), "prov:time",
                            json_string(formats_iso(info->end_us, iso)));
    json_object_set_new(doc, "wasGeneratedBy", o);
    o = json_pack("{s:{s:s, s:s}}", "_:w1", "prov:activity", id.job, "prov:agent", id.software);
    if (info->owner)
        json_object_set_new(
            o, "_:w2", json_pack("{s:s, s:s}", "prov:activity", id.job, "prov:agent", id.owner));
    json_object_set_new(doc, "wasAssociatedWith", o);
    json_object_set_new(doc, "wasDerivedFrom",
                        json_pack("{s:{s:s, s:s}}", "_:d1", "prov:generatedEntity", id.cat,
                                  "prov:usedEntity", id.image));
    if (json_dumpf(doc, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 || fputc('\n', f) == EOF ||
        fflush(f) != 0)
        rc = OTF_FAIL(eb, OTF_E_IO, "provenance write failed");
    json_decref(doc);
    return rc;
}

/* A PROV-N string literal: quotes and backslashes escaped. */
static void pn_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if ((unsigned char)*s >= 0x20)
            fputc(*s, f);
    }
    fputc('"', f);
}

enum otf_status otf_formats_write_prov_n(FILE *f, const struct otf_detect_catalog *cat,
                                         const struct otf_formats_run_info *info,
                                         struct otf_errbuf *eb)
{
    struct ids id;
    char iso[OTF_TIME_ISO_LEN], iso2[OTF_TIME_ISO_LEN];

    make_ids(info, &id);
    fprintf(f, "document\n");
    fprintf(f, "  prefix otf <%s>\n", info->id_base ? info->id_base : "urn:otf:");
    fprintf(f, "  prefix voprov <%s>\n\n", VOPROV_NS);

    fprintf(f, "  entity(%s, [prov:label=\"input image\"", id.image);
    if (info->input_name) {
        fprintf(f, ", prov:location=");
        pn_str(f, info->input_name);
    }
    if (info->input_sha256)
        fprintf(f, ", otf:sha256=\"%s\"", info->input_sha256);
    fprintf(f, "])\n");
    fprintf(f, "  entity(%s, [prov:label=\"model weights\"", id.model);
    if (info->model_sha256)
        fprintf(f, ", otf:sha256=\"%s\"", info->model_sha256);
    fprintf(f, "])\n");
    fprintf(f, "  entity(%s, [prov:label=\"source catalogue\", otf:n_sources=%zu])\n", id.cat,
            cat->n);

    fprintf(f, "  activity(%s, %s, %s, [prov:label=\"YOLO-CIANNA source detection\"", id.job,
            info->start_us ? formats_iso(info->start_us, iso) : "-",
            info->end_us ? formats_iso(info->end_us, iso2) : "-");
    if (info->backend)
        fprintf(f, ", otf:backend=\"%s\"", info->backend);
    if (info->precision)
        fprintf(f, ", otf:precision=\"%s\"", info->precision);
    if (info->winograd_layers > 0)
        fprintf(f, ", otf:winograd_layers=%d", info->winograd_layers);
    if (info->batch_id) {
        fprintf(f, ", otf:batch_id=");
        pn_str(f, info->batch_id);
    }
    for (size_t i = 0; i < info->n_params; i++) {
        char key[96];
        local_name(key, sizeof(key), "otf:param_", info->params[i].name);
        fprintf(f, ", %s=", key);
        pn_str(f, info->params[i].value);
    }
    fprintf(f, "])\n");
    fprintf(f, "  agent(%s, [prov:type='prov:SoftwareAgent', prov:label=", id.software);
    pn_str(f, info->software);
    fprintf(f, "])\n");
    if (info->owner) {
        fprintf(f, "  agent(%s, [prov:type='prov:Person', prov:label=", id.owner);
        pn_str(f, info->owner);
        fprintf(f, "])\n");
    }
    fprintf(f, "  used(%s, %s, -, [prov:role=\"image\"])\n", id.job, id.image);
    fprintf(f, "  used(%s, %s, -, [prov:role=\"model\"])\n", id.job, id.model);
    fprintf(f, "  wasGeneratedBy(%s, %s, %s, [prov:role=\"catalogue\"])\n", id.cat, id.job,
            info->end_us ? formats_iso(info->end_us, iso) : "-");
    fprintf(f, "  wasAssociatedWith(%s, %s, -)\n", id.job, id.software);
    if (info->owner)
        fprintf(f, "  wasAssociatedWith(%s, %s, -)\n", id.job, id.owner);
    fprintf(f, "  wasDerivedFrom(%s, %s)\n", id.cat, id.image);
    fprintf(f, "endDocument\n");
    if (fflush(f) != 0 || ferror(f))
        return OTF_FAIL(eb, OTF_E_IO, "provenance write failed");
    return OTF_OK;
}
