// Graph handed to the model: nodes are atoms (owned ones first, then ghost/image atoms),
// directed edges go from a center atom to each neighbor within the model cutoff.
#pragma once

#include <cstdint>
#include <vector>

namespace mlff {

struct Graph {
  int64_t n_nodes = 0;               // owned + ghost atoms
  int64_t n_local = 0;               // owned atoms; they come first
  std::vector<int64_t> species;      // model element index per node
  std::vector<int64_t> centers;      // edge source (the atom whose environment it is)
  std::vector<int64_t> neighbors;    // edge target
  std::vector<double> edge_vec;      // 3 per edge: x[neighbor] - x[center]

  int64_t num_edges() const { return static_cast<int64_t>(centers.size()); }
  void clear_edges();
};

// Appends the edges of a half-open list of centers, taken from a neighbor list in the
// pointer-per-center layout of MD codes (neighbors of center c: lists[c][0..counts[c]),
// each entry masked with `index_mask` to strip flag bits). Positions are a flat (n, 3)
// array. Only pairs closer than `cutoff` become edges; the list may hold a skin beyond it.
void append_edges(const double* positions, const int* center_ids, int n_centers,
                  const int* counts, int* const* lists, int index_mask, double cutoff,
                  Graph& graph);

// Drops the edges no owned atom's energy depends on. With L message-passing layers, an owned
// atom's energy needs the layer-l features of atoms up to L-l hops away, so only edges whose
// center lies within L-1 hops of an owned atom carry information. Ghost shells sized for the
// receptive field plus the neighbor skin hold many more edges than that; pruning them
// changes no result and saves most of the model's work on small subdomains.
void prune_to_receptive_field(Graph& graph, int num_layers);

}  // namespace mlff
