// Open MPI shim (Debian: libopenmpi-dev, pkg-config "ompi-c").
// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are macros over addresses of
// global objects, which Swift cannot import; these inline functions return them.
#include <mpi.h>

static inline MPI_Comm capg_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype capg_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype capg_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype capg_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op capg_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op capg_mpi_max(void) { return MPI_MAX; }
static inline void *capg_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int capg_mpi_success(void) { return MPI_SUCCESS; }
static inline MPI_Request capg_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *capg_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline int capg_mpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline MPI_Datatype capg_mpi_int64(void) { return MPI_INT64_T; }
/// Source rank of a received status (MPI_Status is a struct whose field names Swift can read,
/// but keeping the access here keeps the Swift side independent of the MPI implementation).
static inline int capg_mpi_status_source(const MPI_Status *s) { return s->MPI_SOURCE; }
static inline int capg_mpi_undefined(void) { return MPI_UNDEFINED; }
