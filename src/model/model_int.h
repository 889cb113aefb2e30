/* model: declarations shared by the loaders of this folder (binary, text, folders). */
#ifndef OTF_MODEL_INT_H
#define OTF_MODEL_INT_H

#include "model/model.h"

/* Load-time builder: layers are appended in file order, and each one is checked and sized
 * against the running shape (the header dims), so weights are counted before any allocation. */
struct otf_model_builder {
    struct otf_model_net *net;
    size_t cap;                 /* allocated layers */
    struct otf_model_shape cur; /* output shape of the last appended layer */
};

/* Starts a net for header dims {W,H,D,C}; OTF_E_FORMAT when a dim is out of range. */
enum otf_status otf_model_builder_begin(struct otf_model_builder *b, const int dims[4],
                                        enum otf_model_format fmt, struct otf_errbuf *eb);

/* Appends a copy of `L` (whose hyper-parameters the parser has filled; weights NULL) after
 * validating it, computing c_in, flat_f_size, in_size, nb_group and n_weights, checking the
 * parameter cap and that `bytes_left` can hold n_weights values of at least `min_bytes_per`
 * bytes each. Returns the appended layer in *added (owned by the net). */
enum otf_status otf_model_builder_add(struct otf_model_builder *b, const struct otf_model_layer *L,
                                      size_t bytes_left, size_t min_bytes_per,
                                      struct otf_model_layer **added, struct otf_errbuf *eb);

/* Allocates added->weights (fallible otf_malloc) for n_weights floats. */
enum otf_status otf_model_builder_alloc_weights(struct otf_model_layer *added,
                                                struct otf_errbuf *eb);

/* Finishes: at least one layer, every weight finite. *out takes the net; on error the
 * partial net is freed. */
enum otf_status otf_model_builder_end(struct otf_model_builder *b, enum otf_status rc,
                                      struct otf_model_net **out, struct otf_errbuf *eb);

/* Parses a stored activation string (NUL-terminated, at most 40 bytes) strictly: it must start
 * with LIN, RELU, LOGI, SMAX or YOLO and be printable. */
enum otf_status otf_model_activ_parse(const char *s, struct otf_model_activ *a,
                                      struct otf_errbuf *eb);

/* Output shape of layer i given its input shape. */
enum otf_status otf_model_layer_shape(const struct otf_model_net *net, size_t i,
                                      const struct otf_model_shape *in, struct otf_model_shape *out,
                                      struct otf_errbuf *eb);

enum otf_status otf_model_load_binary(const unsigned char *p, size_t len,
                                      struct otf_model_net **out, struct otf_errbuf *eb);
enum otf_status otf_model_load_text(const char *p, size_t len, struct otf_model_net **out,
                                    struct otf_errbuf *eb);

/* 1 when the buffer starts like a text save ("WxHxDxC" then a newline). */
int otf_model_looks_text(const void *buf, size_t len);

#endif
