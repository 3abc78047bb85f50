// Graph handed to the model: nodes are atoms (owned ones first, then ghost/image atoms),
// directed edges go from a center atom to each neighbor within the model cutoff. Atoms the
// model does not see (NeighborLists::excluded) are no nodes; node_atom maps nodes to atoms.
#pragma once

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace mlff {

struct Graph {
  int64_t n_nodes = 0;               // owned + ghost atoms in the graph
  int64_t n_local = 0;               // owned atoms in the graph; they come first
  std::vector<int64_t> species;      // model element index per node
  std::vector<int64_t> centers;      // edge source (the atom whose environment it is)
  std::vector<int64_t> neighbors;    // edge target
  std::vector<double> edge_vec;      // 3 per edge: x[neighbor] - x[center]
  std::vector<int> node_atom;        // the MD code's atom index of each node
  // With pruning, edges come sorted by their center's hop distance from the owned atoms and
  // layer_edges[l] counts the leading edges message-passing layer l needs (those centered
  // within num_layers-1-l hops); empty: every layer uses every edge.
  std::vector<int64_t> layer_edges;
  // The closest pair among the edges' atoms (MD atom indices, before folding) and the square
  // of its distance: what a minimum-distance check reports. closest_sq is infinite without
  // edges.
  double closest_sq = 0.0;
  int closest_atoms[2] = {-1, -1};

  // Incremented by clear_edges, so at every rebuild: what tells an upload of the graph to a
  // model's device (model_runner.h DeviceGraph) from an upload of an earlier graph.
  uint64_t generation = 0;

  int64_t num_edges() const { return static_cast<int64_t>(centers.size()); }
  // Edges summed over `num_layers` message-passing layers: the per-edge work of one model
  // call (what the rank count multiplies through the ghost shells).
  int64_t edge_evaluations(int num_layers) const;
  // The same when the layers run on the owned nodes only, with the ghosts' features exchanged
  // between them (ModelRunner::compute_exchanged): each layer evaluates the edges centred on
  // owned nodes, the first layer_edges.back() of a pruned graph.
  int64_t exchanged_edge_evaluations(int num_layers) const {
    return num_layers * layer_edges.back();
  }
  void clear_edges();
};

// Rows of `width` values per node copied onto per-atom rows (node_atom; n_atoms rows, zero for
// atoms without a node), and the per-atom rows read back per node.
void spread_to_atoms(const Graph& graph, const double* node_values, int width, int n_atoms,
                     std::vector<double>& atom_values);
void gather_from_atoms(const Graph& graph, const double* atom_values, int width,
                       double* node_values);

// An MD code's neighbor lists in the pointer-per-center layout: neighbors of atom i are
// lists[i][0..counts[i]), each entry masked with `index_mask` to strip flag bits. Atoms
// [0, n_local) are owned, [n_local, n_total) ghosts; `centers` are the atoms with a list.
struct NeighborLists {
  const double* positions = nullptr;   // (n_total, 3)
  int n_local = 0, n_total = 0;
  const int* centers = nullptr;
  int n_centers = 0;
  const int* counts = nullptr;
  int* const* lists = nullptr;
  int index_mask = ~0;
  // Per atom (n_total), nonzero: not in the graph (a type the model does not see; another
  // pair style handles it). nullptr: every atom is.
  const unsigned char* excluded = nullptr;
};

// For each atom, the owned atom it is: itself if owned; for a ghost that carries an owned
// atom's ID, that atom (the ghost is its periodic image: this rank spans that periodic
// direction whole, as a single rank spans all); -1 for ghosts owned by other ranks.
// The pair style calls it at every graph build (LAMMPS renumbers atoms at will), so it is
// made cheap: where the owned IDs are dense (LAMMPS numbers atoms 1..N; one rank owns them
// all), a table indexed by ID; else a hash map over the owned atoms.
template <typename Id>
void find_image_owners(const Id* ids, int n_local, int n_total, std::vector<int>& owner) {
  owner.resize(n_total);
  for (int i = 0; i < n_local; ++i) owner[i] = i;
  if (n_local == 0) {
    std::fill(owner.begin(), owner.end(), -1);
    return;
  }
  int64_t low = static_cast<int64_t>(ids[0]), high = low;
  for (int i = 1; i < n_local; ++i) {
    low = std::min(low, static_cast<int64_t>(ids[i]));
    high = std::max(high, static_cast<int64_t>(ids[i]));
  }
  const int64_t span = high - low + 1;
  if (span <= 4 * static_cast<int64_t>(n_local) + 1024) {
    std::vector<int> by_id(span, -1);
    for (int i = 0; i < n_local; ++i) by_id[static_cast<int64_t>(ids[i]) - low] = i;
    for (int i = n_local; i < n_total; ++i) {
      const int64_t slot = static_cast<int64_t>(ids[i]) - low;
      owner[i] = slot >= 0 && slot < span ? by_id[slot] : -1;
    }
    return;
  }
  std::unordered_map<int64_t, int> owned;
  owned.reserve(n_local);
  for (int i = 0; i < n_local; ++i) owned.emplace(static_cast<int64_t>(ids[i]), i);
  for (int i = n_local; i < n_total; ++i) {
    const auto it = owned.find(static_cast<int64_t>(ids[i]));
    owner[i] = it == owned.end() ? -1 : it->second;
  }
}

// Builds the graph of the pairs closer than `cutoff` (the lists may hold a skin beyond it).
//
// prune_layers = L > 0 drops the edges no owned atom's energy depends on: with L
// message-passing layers an owned atom's energy needs the features of atoms up to L-1 hops
// away, so only edges centered within L-1 hops carry information, and layer l only needs the
// edges centered within L-1-l hops (layer_edges). Exact; ghost shells sized for the receptive
// field plus the skin hold many more edges than that.
//
// With `owner` (from find_image_owners), periodic images are folded onto their owners: an
// edge to an image becomes an edge to the owned atom with the image's edge vector, and the
// images' own edges (repeats of their owners') are dropped. The features of an image equal
// its owner's, so the result is the same while the model evaluates each atom once. The
// nodes are then the owned atoms followed by the remaining ghosts some edge touches, and
// node_atom maps them back; without `owner` the nodes are all atoms in order. Excluded atoms
// are neither centers nor neighbors nor nodes, so owned nodes are the owned atoms in the graph.
void build_graph(const NeighborLists& lists, double cutoff, int prune_layers,
                 const std::vector<int>* owner, Graph& graph);

}  // namespace mlff
