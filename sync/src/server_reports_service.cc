#include "kitsync/sync/server_reports_service.h"

#include "kitsync/sync/grpc_status.h"
#include "kitsync/sync/server_services.h"

namespace kitsync::sync {
namespace {

template <typename T>
grpc::Status Reply(core::Result<T> result, T* response) {
  if (!result.ok()) return ToGrpc(result.status());
  *response = std::move(result).value();
  return grpc::Status::OK;
}

}  // namespace

grpc::Status ReportsService::Handouts(grpc::ServerContext* context,
                                      const v1::HandoutsRequest* request,
                                      v1::HandoutsResponse* response) {
  return Reply(reports_.Handouts(CallToken(*context), *request), response);
}

grpc::Status ReportsService::StockByPost(grpc::ServerContext* context,
                                         const v1::StockByPostRequest* request,
                                         v1::StockByPostResponse* response) {
  return Reply(reports_.StockByPost(CallToken(*context), *request), response);
}

grpc::Status ReportsService::BeneficiariesServed(grpc::ServerContext* context,
                                                 const v1::BeneficiariesServedRequest* request,
                                                 v1::BeneficiariesServedResponse* response) {
  return Reply(reports_.BeneficiariesServed(CallToken(*context), *request), response);
}

grpc::Status ReportsService::Reconcile(grpc::ServerContext* context,
                                       const v1::ReconcileRequest* request,
                                       v1::ReconcileResponse* response) {
  return Reply(reports_.Reconcile(CallToken(*context), *request), response);
}

}  // namespace kitsync::sync
