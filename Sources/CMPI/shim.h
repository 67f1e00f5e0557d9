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
