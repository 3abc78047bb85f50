#include "graph.h"

#include <algorithm>

namespace mlff {

void Graph::clear_edges() {
  centers.clear();
  neighbors.clear();
  edge_vec.clear();
}

void append_edges(const double* positions, const int* center_ids, int n_centers,
                  const int* counts, int* const* lists, int index_mask, double cutoff,
                  Graph& graph) {
  const double cutoff_sq = cutoff * cutoff;
  for (int c = 0; c < n_centers; ++c) {
    const int i = center_ids[c];
    const double* xi = positions + 3 * static_cast<int64_t>(i);
    const int* list = lists[i];
    for (int k = 0; k < counts[i]; ++k) {
      const int j = list[k] & index_mask;
      const double* xj = positions + 3 * static_cast<int64_t>(j);
      const double dx = xj[0] - xi[0], dy = xj[1] - xi[1], dz = xj[2] - xi[2];
      if (dx * dx + dy * dy + dz * dz >= cutoff_sq) continue;
      graph.centers.push_back(i);
      graph.neighbors.push_back(j);
      graph.edge_vec.insert(graph.edge_vec.end(), {dx, dy, dz});
    }
  }
}

void prune_to_receptive_field(Graph& graph, int num_layers) {
  const int64_t n_edges = graph.num_edges();
  const int unreached = num_layers;  // any depth >= num_layers is never needed as a center
  std::vector<int> hops(graph.n_nodes, unreached);
  std::fill(hops.begin(), hops.begin() + graph.n_local, 0);
  // Breadth-first over the edge list, one sweep per hop: edges are few passes' worth of work.
  for (int depth = 0; depth + 1 < num_layers; ++depth)
    for (int64_t e = 0; e < n_edges; ++e)
      if (hops[graph.centers[e]] == depth && hops[graph.neighbors[e]] > depth + 1)
        hops[graph.neighbors[e]] = depth + 1;

  int64_t kept = 0;
  for (int64_t e = 0; e < n_edges; ++e) {
    if (hops[graph.centers[e]] >= num_layers) continue;
    graph.centers[kept] = graph.centers[e];
    graph.neighbors[kept] = graph.neighbors[e];
    for (int k = 0; k < 3; ++k) graph.edge_vec[3 * kept + k] = graph.edge_vec[3 * e + k];
    ++kept;
  }
  graph.centers.resize(kept);
  graph.neighbors.resize(kept);
  graph.edge_vec.resize(3 * kept);
}

}  // namespace mlff
