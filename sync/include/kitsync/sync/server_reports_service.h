// The gRPC face of the central reports: a thin service over ReportsLogic, authorised by the
// bearer token of each call like the Admin service.
#pragma once

#include <grpcpp/grpcpp.h>

#include "kitsync/sync/server_logic.h"
#include "kitsync/sync/server_reports.h"
#include "kitsync/v1/reports.grpc.pb.h"

namespace kitsync::sync {

class ReportsService final : public v1::Reports::Service {
 public:
  // `logic` must outlive the service.
  explicit ReportsService(ServerLogic* logic) : reports_(logic) {}

  grpc::Status Handouts(grpc::ServerContext* context, const v1::HandoutsRequest* request,
                        v1::HandoutsResponse* response) override;
  grpc::Status StockByPost(grpc::ServerContext* context, const v1::StockByPostRequest* request,
                           v1::StockByPostResponse* response) override;
  grpc::Status BeneficiariesServed(grpc::ServerContext* context,
                                   const v1::BeneficiariesServedRequest* request,
                                   v1::BeneficiariesServedResponse* response) override;
  grpc::Status Reconcile(grpc::ServerContext* context, const v1::ReconcileRequest* request,
                         v1::ReconcileResponse* response) override;

 private:
  ReportsLogic reports_;
};

}  // namespace kitsync::sync
