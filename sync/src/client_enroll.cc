#include "kitsync/sync/client_enroll.h"

#include "kitsync/v1/enrollment.grpc.pb.h"

namespace kitsync::sync {
namespace {

core::Status CheckResponse(const v1::EnrollResponse& r) {
  auto incomplete = [](const std::string& what) {
    return core::Status::Internal("the server's enrolment answer is unusable: " + what);
  };
  if (r.device_id().size() != 16) return incomplete("the device ID is not 16 bytes");
  if (r.post_code().empty()) return incomplete("it names no post");
  if (!ValidateDeviceToken(r.device_token()).ok()) return incomplete("the credential is invalid");
  if (r.programme_key().size() < 16) return incomplete("the programme key is too short");
  return core::Status::Ok();
}

}  // namespace

core::Result<v1::EnrollResponse> Enroll(const std::string& address, const std::string& ca_file,
                                        const std::string& code, const std::string& device_name,
                                        const GrpcTransportOptions& options) {
  if (code.empty()) return core::Status::InvalidArgument("the enrolment code is empty");
  ASSIGN_OR_RETURN(auto channel, MakeChannel(address, ca_file, options.channel));
  auto stub = v1::Enrollment::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + options.call_deadline);
  context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  v1::EnrollRequest request;
  request.set_code(code);
  request.set_device_name(device_name);
  v1::EnrollResponse response;
  const grpc::Status status = stub->Enroll(&context, request, &response);
  if (!status.ok()) return CallError("enrolment", status);
  RETURN_IF_ERROR(CheckResponse(response));
  return response;
}

}  // namespace kitsync::sync
